import Dispatch
import FuseKit
import Synchronization

/// The filesystem's side of a cluster (`[store] backend = "redis"`, see docs/distributed.md).
///
/// Handlers that change the namespace do not change it themselves: they check what they can
/// here, post a command to the shared log and answer the FUSE request once this daemon has
/// applied it. Every daemon applies every entry, in log order, through the same code a single
/// daemon runs (`apply(_:)`), so all mounts show one namespace.
extension AIFileSystem: ClusterApplier {
    public func socketIDs() -> [SocketID] { registry.all().map(\.id) }

    public func tookOver(_ socket: SocketID) {
        guard let cluster = environment.cluster else { return }
        registry.socket(id: socket)?.takeOver(cluster: cluster)
    }

    public func apply(_ entry: ClusterEntry) -> ClusterResult {
        guard let cluster = environment.cluster else { return .done(.EIO) }
        let remote = entry.origin != cluster.id
        switch entry.body {
        case .create(let name, let model, let uid, let gid, let mode):
            do {
                let socket = try registry.create(name: FileName(name), model: model, uid: uid, gid: gid, mode: mode)
                if remote { invalidator?.invalidateEntry(parent: InodeScheme.root, name: name) } else { cluster.claim(socket.id) }
                return .created(socket.id)
            } catch {
                return .done(error.errno)
            }
        case .remove(let name):
            do {
                let socket = try registry.remove(name: name)
                cluster.release(socket.id)
                if remote { invalidator?.invalidateEntry(parent: InodeScheme.root, name: name) }
                return .done(nil)
            } catch {
                return .done(error.errno)
            }
        case .rename(let from, let to):
            do {
                try registry.rename(from: from, to: FileName(to))
                if remote {
                    invalidator?.invalidateEntry(parent: InodeScheme.root, name: from)
                    invalidator?.invalidateEntry(parent: InodeScheme.root, name: to)
                }
                return .done(nil)
            } catch {
                return .done(error.errno)
            }
        case .ownership(let id, let mode, let uid, let gid):
            guard let socket = registry.socket(id: id) else { return .done(.ENOENT) }
            socket.setOwnership(mode: mode, uid: uid, gid: gid)
            if remote { invalidator?.invalidateInode(InodeScheme.inode(socket: id, file: nil), dataToo: false) }
            return .done(nil)
        case .submit(let id, let content, let priority, let uid, let route, let kind):
            guard let socket = registry.socket(id: id) else { return .done(.ENOENT) }
            return .done(socket.applySubmit(content, priorityHigh: priority, uid: uid, route: replyRoute(route),
                                            origin: Self.origin(kind, from: socket)))
        case .control(let id, let text, let uid, let gid):
            guard let socket = registry.socket(id: id) else { return .done(.ENOENT) }
            return .done(Self.waitFor { () throws(Errno) -> Deferred? in
                try applySocketControl(text, socket: socket, caller: Caller(uid: uid, gid: gid))
            })
        case .daemonControl(let text, _, _):
            return .done(Self.waitFor { () throws(Errno) -> Deferred? in try applyDaemonControl(text) })
        case .prompt(let id, let bytes):
            guard let socket = registry.socket(id: id) else { return .done(.ENOENT) }
            do {
                try socket.setPrompt(bytes)
                return .done(nil)
            } catch {
                return .done(error.errno)
            }
        case .teamControl(let text):
            do {
                registry.team.apply(try TeamCommand.parseLines(text, maxLine: environment.limits.maxControlLine))
                return .done(nil)
            } catch {
                registry.team.reportError(kind: "ctl", error.reason)
                return .done(error.errno)
            }
        case .teamCancel(let id, let round, let reason):
            registry.socket(id: id)?.cancelTeamMessage(round: round, reason: reason)
            return .done(nil)
        case .discussion(let id, let text, let round):
            registry.socket(id: id)?.addDiscussion(text, round: round)
            return .done(nil)
        case .snapshot(let name, let trigger):
            let outcome = Mutex<Result<SnapshotInfo, SnapshotFailure>?>(nil)
            let finished = DispatchSemaphore(value: 0)
            snapshots.take(name, trigger: SnapshotTrigger(rawValue: trigger) ?? .manual) { result in
                outcome.withLock { $0 = result }
                finished.signal()
            }
            finished.wait()
            if case .failure(let failure) = outcome.withLock({ $0 }) { return .done(failure.errno) }
            return .done(nil)
        case .snapshotDelete(let name):
            do {
                try snapshots.delete(name)
                return .done(nil)
            } catch {
                return .done(error.errno)
            }
        case .text(let id, let message, _), .reasoning(let id, let message, _), .usage(let id, let message, _, _),
             .diagnostic(let id, let message, _, _), .end(let id, let message, _, _), .restart(let id, let message):
            registry.socket(id: id)?.applyWork(message: message, entry.body)
            return .done(nil)
        }
    }

    /// Runs ctl work and waits for the part that finishes later (a restore): the tailer is a
    /// thread of its own, so it may wait; the next entry is applied after this one is done.
    private static func waitFor(_ body: () throws(Errno) -> Deferred?) -> Errno? {
        let deferred: Deferred?
        do {
            deferred = try body()
        } catch {
            return error
        }
        guard let deferred else { return nil }
        let outcome = Mutex<Errno?>(nil)
        let finished = DispatchSemaphore(value: 0)
        deferred { error in
            outcome.withLock { $0 = error }
            finished.signal()
        }
        finished.wait()
        return outcome.withLock { $0 }
    }

    /// The reply route of a logged message: a `chat` reply reaches the descriptor only on the
    /// daemon it was opened on; elsewhere it is followed but read by nobody.
    private func replyRoute(_ stored: String) -> ReplyRoute {
        if stored.hasPrefix("chat:") {
            let parts = stored.split(separator: ":")
            if parts.count == 3, String(parts[1]) == environment.cluster?.id, let token = UInt64(parts[2]),
               let stream = clusterChats.withLock({ $0.removeValue(forKey: token) }) {
                return .chat(stream)
            }
            return .chat(ChatStream())
        }
        switch ReplyRoute.fromStored(stored) {
        case .team(let ticket): return .team(TeamTicket(round: ticket.round, synthesis: ticket.synthesis, team: registry.team))
        default: return .output
        }
    }

    static func origin(_ kind: String, from socket: Socket) -> MessageOrigin {
        switch kind {
        case "chat": return .chat
        case "team": return .team(broadcast: false)
        case "broadcast": return .team(broadcast: true)
        case "synthesis": return .synthesis
        default: return .input
        }
    }

    /// The stored form of a message's origin, for ``ClusterEntry/Body/submit``.
    static func kind(_ origin: MessageOrigin) -> String {
        switch origin {
        case .input: return "input"
        case .chat: return "chat"
        case .team(let broadcast): return broadcast ? "broadcast" : "team"
        case .synthesis: return "synthesis"
        case .wire: return "input"
        }
    }
}
