import FuseKit
import Synchronization

/// Where a ``ChangeLog`` hands the changes it has ordered.
public protocol ChangeApplier: AnyObject, Sendable {
    /// Applies one change, in log order; `done` gets the result, at once or (a message waiting
    /// for its commit, a snapshot, a restore) later, from another thread.
    func apply(_ entry: LoggedChange, done: @escaping @Sendable (ChangeResult) -> Void)
    /// This daemon now owns `socket` (its lease was free): start answering it.
    func tookOver(_ socket: SocketID)
    /// Another daemon owns `socket` now (this one's lease lapsed, say while Redis was out of
    /// reach): stop what only the owner runs, the socket's agent program.
    func lostOwnership(_ socket: SocketID)
    /// Socket ids this daemon knows (to hold leases for).
    func socketIDs() -> [SocketID]
    /// Whether no request has streamed part of a reply that is not stored yet (a checkpoint
    /// taken now loses nothing).
    func isBetweenReplies() -> Bool
}

/// Work a change finishes later (a snapshot, a restore): call with the completion.
typealias Deferred = (@escaping @Sendable (Errno?) -> Void) -> Void

/// The changes that need the tree: ctl text (its checks read the whole namespace and the
/// snapshots), `/ai/ctl`, snapshots, and the kernel's caches. ``AIFileSystem`` implements it.
protocol TreeChangeApplier: AnyObject, Sendable {
    func applySocketControl(_ text: String, socket: Socket, caller: Caller) throws(Errno) -> Deferred?
    func applyDaemonControl(_ text: String) throws(Errno) -> Deferred?
    func applySnapshot(name: String, trigger: SnapshotTrigger, onlySocket: SocketID?, done: @escaping @Sendable (Errno?) -> Void)
    func applySnapshotDelete(name: String) -> Errno?
    /// A change from another daemon renamed, made or removed `name` in the root.
    func invalidateRootEntry(_ name: String)
    /// A change from another daemon changed a socket directory's attributes.
    func invalidateSocketDirectory(_ socket: SocketID)
}

/// The only code that mutates sockets, the team chat and the namespace: every ``Change``, from
/// this daemon or (with the Redis backend) from any other, is applied here, in log order.
///
/// One daemon and many run exactly this code: a single daemon's ``LocalLog`` calls it at once
/// from the thread that posted the change; the ``RedisLog`` calls it from its tailer thread for
/// every entry of the shared stream. A change made by another daemon also invalidates what
/// this kernel has cached.
public final class Applier: ChangeApplier, @unchecked Sendable {
    /// Strong: a socket a caller still holds keeps working while its registry is otherwise
    /// unreferenced (tests do that). The cycle through the registry is broken by ``unbind()``
    /// when the daemon stops.
    private let registryBox = Mutex<SocketRegistry?>(nil)
    private var registryRef: SocketRegistry? { registryBox.withLock { $0 } }
    private let treeBox = Mutex<TreeBox?>(nil)

    private struct TreeBox: @unchecked Sendable {
        weak var tree: (any TreeChangeApplier)?
    }

    init() {}

    /// Applies to `registry` from now on, and receives the changes of its environment's log.
    func bind(_ registry: SocketRegistry) {
        registryBox.withLock { $0 = registry }
        registry.environment.log.attach(self)
    }

    /// Applies nothing from now on (the daemon is stopping); frees the registry.
    func unbind() {
        registryBox.withLock { $0 = nil }
    }

    var tree: (any TreeChangeApplier)? { treeBox.withLock { $0?.tree } }
    func setTree(_ tree: any TreeChangeApplier) { treeBox.withLock { $0 = TreeBox(tree: tree) } }

    public func socketIDs() -> [SocketID] { registryRef?.all().map(\.id) ?? [] }

    public func isBetweenReplies() -> Bool { !(registryRef?.all().contains { $0.isMidReply } ?? false) }

    public func tookOver(_ socket: SocketID) {
        guard let registry = registryRef, let taken = registry.socket(id: socket) else { return }
        // Observed by this daemon alone (a lease it got), so it publishes it.
        let events = registry.environment.events
        events.record(AIEvent("owner_changed", socket: taken.info, uid: events.daemonUID, [("owner_daemon", .string(registry.environment.log.id))]),
                      fromLog: false, publish: true)
        taken.takeOver()
        registry.environment.agents.reconcile(taken)
    }

    public func lostOwnership(_ socket: SocketID) {
        guard let registry = registryRef, let lost = registry.socket(id: socket) else { return }
        registry.environment.agents.reconcile(lost)
    }

    /// Applies `entry` with it as this thread's change (``ChangeContext``), and records the
    /// events it makes once its result is known (``ChangeEvents``).
    public func apply(_ entry: LoggedChange, done: @escaping @Sendable (ChangeResult) -> Void) {
        guard let registry = registryRef else { return done(.done(.EIO)) }
        let remote = entry.origin != registry.environment.log.id
        let events = ChangeEvents(entry, registry: registry, remote: remote)
        ChangeContext.applying(entry, remote: remote) {
            guard let events else { return mutate(entry, registry: registry, remote: remote, done: done) }
            mutate(entry, registry: registry, remote: remote) { result in
                events.derive(result)
                done(result)
            }
        }
    }

    private func mutate(_ entry: LoggedChange, registry: SocketRegistry, remote: Bool, done: @escaping @Sendable (ChangeResult) -> Void) {
        let log = registry.environment.log
        switch entry.change {
        case .create(let name, let model, let uid, let gid, let mode):
            do {
                let socket = try registry.create(name: FileName(name), model: model, uid: uid, gid: gid, mode: mode)
                if remote { tree?.invalidateRootEntry(name) } else { log.claim(socket.id) }
                registry.environment.agents.reconcile(socket)
                done(.created(socket.id))
            } catch {
                done(.done(error.errno))
            }
        case .remove(let name):
            do {
                let socket = try registry.remove(name: name)
                log.release(socket.id)
                registry.environment.agents.reconcile(socket)
                if remote { tree?.invalidateRootEntry(name) }
                done(.done(nil))
            } catch {
                done(.done(error.errno))
            }
        case .rename(let from, let to):
            do {
                try registry.rename(from: from, to: FileName(to))
                if remote {
                    tree?.invalidateRootEntry(from)
                    tree?.invalidateRootEntry(to)
                }
                done(.done(nil))
            } catch {
                done(.done(error.errno))
            }
        case .ownership(let id, let mode, let uid, let gid):
            guard let socket = registry.socket(id: id) else { return done(.done(.ENOENT)) }
            socket.setOwnership(mode: mode, uid: uid, gid: gid)
            registry.environment.agents.reconcile(socket)
            if remote { tree?.invalidateSocketDirectory(id) }
            done(.done(nil))
        case .submit(let id, let content, let priority, let uid, let route, let kind):
            guard let socket = registry.socket(id: id) else { return done(.done(.ENOENT)) }
            socket.applySubmit(content, priorityHigh: priority, uid: uid, route: replyRoute(route, registry: registry),
                               origin: MessageOrigin(kind), durable: entry.isDurable) { done(.done($0)) }
        case .control(let id, let text, let uid, let gid):
            guard let socket = registry.socket(id: id) else { return done(.done(.ENOENT)) }
            guard let tree else { return done(.done(.ENOTSUP)) }
            Self.run({ () throws(Errno) -> Deferred? in
                try tree.applySocketControl(text, socket: socket, caller: Caller(uid: uid, gid: gid))
            }, { result in
                // `model`, `state`: the socket may have become an agent's, or stopped being one.
                registry.environment.agents.reconcile(socket)
                done(result)
            })
        case .daemonControl(let text, _, _):
            guard let tree else { return done(.done(.ENOTSUP)) }
            Self.run({ () throws(Errno) -> Deferred? in try tree.applyDaemonControl(text) }, done)
        case .prompt(let id, let bytes):
            guard let socket = registry.socket(id: id) else { return done(.done(.ENOENT)) }
            do {
                try socket.setPrompt(bytes)
                done(.done(nil))
            } catch {
                done(.done(error.errno))
            }
        case .teamControl(let text):
            do {
                registry.team.apply(try TeamCommand.parseLines(text, maxLine: registry.environment.limits.maxControlLine))
                done(.done(nil))
            } catch {
                registry.team.reportError(kind: "ctl", error.reason)
                done(.done(error.errno))
            }
        case .teamCancel(let id, let round, let reason):
            registry.socket(id: id)?.cancelTeamMessage(round: round, reason: reason)
            done(.done(nil))
        case .discussion(let id, let text, let round):
            registry.socket(id: id)?.addDiscussion(text, round: round)
            done(.done(nil))
        case .snapshot(let name, let trigger, let socket):
            guard let tree else { return done(.done(.ENOTSUP)) }
            tree.applySnapshot(name: name, trigger: trigger, onlySocket: socket) { done(.done($0)) }
        case .snapshotDelete(let name):
            guard let tree else { return done(.done(.ENOTSUP)) }
            done(.done(tree.applySnapshotDelete(name: name)))
        case .text(let id, let message, _), .reasoning(let id, let message, _), .usage(let id, let message, _, _),
             .diagnostic(let id, let message, _, _), .end(let id, let message, _), .restart(let id, let message):
            registry.socket(id: id)?.applyWork(message: message, entry.change)
            done(.done(nil))
        case .tool(let id, let message, let event):
            registry.socket(id: id)?.applyTool(message: message, event)
            done(.done(nil))
        case .network(let id, let text):
            registry.socket(id: id)?.noteNetwork(text)
            done(.done(nil))
        }
    }

    /// Runs ctl work and answers once the part that finishes later (a restore) is done.
    private static func run(_ body: () throws(Errno) -> Deferred?, _ done: @escaping @Sendable (ChangeResult) -> Void) {
        let deferred: Deferred?
        do {
            deferred = try body()
        } catch {
            return done(.done(error))
        }
        guard let deferred else { return done(.done(nil)) }
        deferred { done(.done($0)) }
    }

    /// The reply route of a logged message: a `chat` reply reaches the descriptor only on the
    /// daemon it was opened on; elsewhere it is followed but read by nobody.
    private func replyRoute(_ route: LoggedRoute, registry: SocketRegistry) -> ReplyRoute {
        switch route {
        case .output:
            return .output
        case .chat(let origin, let token):
            if origin == registry.environment.log.id, let stream = registry.environment.chats.take(token) {
                return .chat(stream)
            }
            return .chat(ChatStream())
        case .team(let round, let synthesis):
            return .team(TeamTicket(round: round, synthesis: synthesis, team: registry.team))
        }
    }
}

extension MessageOrigin {
    /// The origin of a logged message.
    init(_ kind: MessageKind) {
        switch kind {
        case .input: self = .input
        case .chat: self = .chat
        case .team: self = .team(broadcast: false)
        case .broadcast: self = .team(broadcast: true)
        case .synthesis: self = .synthesis
        }
    }
}

/// The `chat` descriptors of this daemon whose message is on its way through the log, by
/// token: applying the message gives its reply route the descriptor's stream.
public final class ChatRoutes: Sendable {
    private let state = Mutex<(next: UInt64, streams: [UInt64: ChatStream])>((1, [:]))

    /// Keeps `stream` until its message is applied; the token goes into the message's route.
    func register(_ stream: ChatStream) -> UInt64 {
        state.withLock { s in
            let token = s.next
            s.next += 1
            s.streams[token] = stream
            return token
        }
    }

    /// The stream waiting for token's message (once).
    func take(_ token: UInt64) -> ChatStream? {
        state.withLock { $0.streams.removeValue(forKey: token) }
    }
}
