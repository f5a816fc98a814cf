import FuseKit
import Synchronization

/// All sockets by name and by id. Creation, removal and renaming are checked here.
///
/// Lock order: the registry's lock may be held while calling into a socket, never the reverse.
public final class SocketRegistry: Sendable {
    private struct State {
        var byName: [String: Socket] = [:]
        var byID: [SocketID: Socket] = [:]
        var nextID: SocketID = InodeScheme.firstSocketID
    }
    private let state = Mutex(State())
    public let environment: SocketEnvironment
    /// `team-chat-all`.
    public let team: TeamChat
    /// Applies the log's changes to these sockets and the team chat.
    public let applier = Applier()

    public init(environment: SocketEnvironment) {
        self.environment = environment
        team = TeamChat(environment: environment)
        applier.bind(self)
        team.attach(self)
        environment.directory.set { [weak self] in self?.socket(named: $0) }
    }

    /// The sockets the store brought back, each answering its queue again.
    public init(environment: SocketEnvironment, restoring contents: StoreContents) {
        self.environment = environment
        team = TeamChat(environment: environment, restoring: contents.team)
        applier.bind(self)
        environment.directory.set { [weak self] in self?.socket(named: $0) }
        var restored: [Socket] = []
        state.withLock { s in
            s.nextID = max(contents.nextSocketID, InodeScheme.firstSocketID)
            for snapshot in contents.sockets {
                let socket = Socket(restoring: snapshot, environment: environment)
                s.byName[snapshot.record.name] = socket
                s.byID[socket.id] = socket
                s.nextID = max(s.nextID, socket.id + 1)
                restored.append(socket)
            }
        }
        team.attach(self)
        // Wires come back once every socket exists; one that no longer fits says why.
        for snapshot in contents.sockets where !snapshot.record.wire.isEmpty {
            guard let source = socket(id: snapshot.record.id) else { continue }
            guard let target = socket(named: snapshot.record.wire) else {
                source.wireTargetRemoved(snapshot.record.wire)
                continue
            }
            do {
                try environment.wiring.connect(source, to: target)
                source.restoreWire(target)
            } catch {
                source.reportError(kind: "wire", "not restored: \(error.reason)")
                source.setWire(nil)
            }
        }
        for socket in restored { socket.bindRestoredTeamMessages(to: team) }
        team.startRestoredRounds()
        for socket in restored { socket.resume() }
    }

    public func socket(named name: String) -> Socket? { state.withLock { $0.byName[name] } }
    public func socket(id: SocketID) -> Socket? { state.withLock { $0.byID[id] } }

    /// Every socket, oldest first.
    public func all() -> [Socket] {
        state.withLock { $0.byID.values.sorted { $0.id < $1.id } }
    }

    public var count: Int { state.withLock { $0.byID.count } }

    /// Creates a socket. `EINVAL` (bad name or unknown model), `EEXIST`, `ENOSPC` (limit).
    public func create(name: FileName, model: String? = nil, uid: UInt32, gid: UInt32, mode: UInt32) throws(SocketError) -> Socket {
        if let problem = SocketName.problem(with: name) { throw SocketError(.EINVAL, problem) }
        let name = name.string!
        let catalog = environment.catalog()
        let template = environment.template(named: name)
        // `mkdir /ai/NAME` where `[agents.NAME]` is configured makes NAME's agent socket.
        let model = model ?? template?.model ?? environment.agents.config(named: name)?.modelID ?? catalog.defaultModel
        guard catalog.contains(model) else { throw SocketError(.EINVAL, "unknown model '\(model)'") }
        let limit = environment.limits.maxSockets
        let result: Result<Socket, SocketError> = state.withLock { s in
            if s.byName[name] != nil { return .failure(SocketError(.EEXIST, "socket '\(name)' exists")) }
            if s.byID.count >= limit { return .failure(SocketError(.ENOSPC, "socket limit (\(limit)) reached")) }
            let socket = Socket(id: s.nextID, name: name, model: model, uid: uid, gid: gid, mode: mode, environment: environment)
            s.nextID += 1
            s.byName[name] = socket
            s.byID[socket.id] = socket
            if let template { socket.applyTemplate(template) }
            // Recorded before anyone can reach the socket, so its own events come after.
            socket.recordCreation()
            return .success(socket)
        }
        return try result.get()
    }

    /// `fork NAME`: a new socket with a copy of `source`'s model, settings, prompt, headers and
    /// context (not its queue, output or transcript). `EINVAL` with the reason, as ctl refusals are.
    @discardableResult
    public func fork(_ source: Socket, to name: String, turn: Int? = nil, uid: UInt32, gid: UInt32) throws(SocketError) -> Socket {
        let copy = source.forkState(through: turn)
        let target: Socket
        do {
            target = try create(name: FileName(name), model: copy.model, uid: uid, gid: gid, mode: source.info.mode)
        } catch {
            throw SocketError(.EINVAL, "fork: \(error.reason)")
        }
        target.adoptFork(from: source.name, copy)
        return target
    }

    /// Removes a socket and stops its work. `ENOENT`.
    @discardableResult
    public func remove(name: String) throws(SocketError) -> Socket {
        let removed = state.withLock { s -> Socket? in
            guard let socket = s.byName.removeValue(forKey: name) else { return nil }
            s.byID.removeValue(forKey: socket.id)
            return socket
        }
        guard let removed else { throw SocketError(.ENOENT, "no socket '\(name)'") }
        let (target, sources) = environment.wiring.remove(removed.id)
        removed.close()
        for source in sources { source.wireTargetRemoved(name) }
        if let target { environment.wiring.recheck(target) }
        environment.store.record([
            .socketRemoved(removed.id),
            .memory(MemoryEntry(time: WallClock.now(), socket: name, kind: .event, content: "socket removed")),
        ])
        return removed
    }

    /// Renames a socket, keeping its history. `ENOENT`, `EINVAL`, `EEXIST`.
    public func rename(from old: String, to new: FileName) throws(SocketError) {
        if let problem = SocketName.problem(with: new) { throw SocketError(.EINVAL, problem) }
        let newName = new.string!
        let result: SocketError? = state.withLock { s in
            guard let socket = s.byName[old] else { return SocketError(.ENOENT, "no socket '\(old)'") }
            if old == newName { return nil }
            if s.byName[newName] != nil { return SocketError(.EEXIST, "socket '\(newName)' exists") }
            s.byName.removeValue(forKey: old)
            s.byName[newName] = socket
            socket.rename(to: newName)
            return nil
        }
        if let result { throw result }
        if let renamed = socket(named: newName) {
            for source in environment.wiring.sources(of: renamed.id) { source.wireTargetRenamed(to: newName) }
        }
    }

    /// `wire NAME` on `source`: its finished replies go to NAME's input. `ENOENT` (no such
    /// socket), `ELOOP` (NAME leads back to `source`, or is `source`).
    public func wire(_ source: Socket, to name: String) throws(SocketError) {
        guard let target = socket(named: name) else { throw SocketError(.ENOENT, "wire: no socket '\(name)'") }
        let old = environment.wiring.target(of: source.id)
        try environment.wiring.connect(source, to: target)
        source.setWire(target)
        if let old, old !== target { environment.wiring.recheck(old) }
    }

    /// Whether `wire NAME` on `source` would be accepted, without wiring.
    public func checkWire(_ source: Socket, to name: String) throws(SocketError) {
        guard let target = socket(named: name) else { throw SocketError(.ENOENT, "wire: no socket '\(name)'") }
        try environment.wiring.check(source, to: target)
    }

    /// `unwire` on `source`: replies go to its `output` again.
    public func unwire(_ source: Socket) {
        let old = environment.wiring.disconnect(source.id)
        source.setWire(nil)
        if let old { environment.wiring.recheck(old) }
    }

    /// After a restore: the sockets `restored` (as the store now holds them) replace the live
    /// objects of the same ids, and the sockets `removed` go. The old objects were suspended
    /// before the store was rewritten. Wires are rebuilt from the restored records, and wires
    /// from other sockets into a replaced one follow it. Returns every name that changed
    /// meaning (to drop from the kernel's cache) and the new sockets.
    @discardableResult
    public func replace(with restored: [SocketSnapshot], removed: [SocketID]) -> (names: Set<String>, sockets: [Socket]) {
        var names: Set<String> = []
        var old: [Socket] = []
        var fresh: [Socket] = []
        state.withLock { s in
            for id in removed + restored.map(\.record.id) {
                guard let socket = s.byID.removeValue(forKey: id) else { continue }
                let name = socket.name
                if s.byName[name] === socket { s.byName.removeValue(forKey: name) }
                names.insert(name)
                old.append(socket)
            }
            for snapshot in restored {
                let socket = Socket(restoring: snapshot, environment: environment)
                if let holder = s.byName[snapshot.record.name], holder !== socket {
                    s.byID.removeValue(forKey: holder.id)  // only possible if the store says so
                    old.append(holder)
                }
                s.byName[snapshot.record.name] = socket
                s.byID[socket.id] = socket
                s.nextID = max(s.nextID, socket.id + 1)
                names.insert(snapshot.record.name)
                fresh.append(socket)
            }
        }
        let replaced = Set(fresh.map(\.id))
        for socket in old {
            socket.close()
            let (_, sources) = environment.wiring.remove(socket.id)
            for source in sources where !replaced.contains(source.id) {
                if let successor = self.socket(id: socket.id), (try? environment.wiring.connect(source, to: successor)) != nil {
                    source.restoreWire(successor)
                } else {
                    source.wireTargetRemoved(socket.name)
                }
            }
        }
        for (socket, snapshot) in zip(fresh, restored) where !snapshot.record.wire.isEmpty {
            if let target = self.socket(named: snapshot.record.wire), (try? environment.wiring.connect(socket, to: target)) != nil {
                socket.restoreWire(target)
            } else {
                socket.wireTargetRemoved(snapshot.record.wire)
            }
        }
        for socket in fresh {
            socket.bindRestoredTeamMessages(to: team)
            socket.resume()
        }
        for socket in old + fresh { environment.agents.reconcile(socket) }
        team.startRestoredRounds()
        return (names, fresh)
    }

    /// Stops every socket (daemon shutdown).
    public func shutdownAll() {
        environment.agents.stopAll()
        team.shutdown()
        for socket in all() { socket.shutdown() }
        applier.unbind()
    }
}
