import FuseKit
import Synchronization

/// What applying a change produced, for the poster that waits on it.
public enum ChangeResult: Sendable {
    case done(Errno?)
    case created(SocketID)

    /// The errno of a refusal; nil for success.
    var errno: Errno? {
        if case .done(let error) = self { return error }
        return nil
    }
}

/// Orders changes and hands each to the ``ChangeApplier``: the one way state mutates.
///
/// Two implementations: ``LocalLog`` (one daemon: applied at once, on the poster's thread) and
/// ``RedisLog`` (many daemons: appended to a Redis stream, applied by every daemon in stream
/// order). Code outside the two never asks which one it has; what differs between them is said
/// here, as what a log can do: who owns a socket, whether a read must catch up first, whether
/// the log is unavailable.
public protocol ChangeLog: AnyObject, Sendable {
    /// This daemon's name in the log: the origin of what it posts.
    var id: String { get }
    /// Posts a change. With `done`, it is a command its poster waits for: `done` gets what
    /// applying it here produced, or `EIO` when it could not be logged (``unavailableReason``
    /// says why). Without it, the change is work, kept until logged.
    func post(_ change: Change, done: (@Sendable (ChangeResult) -> Void)?)
    /// Where changes are applied from now on.
    func attach(_ applier: any ChangeApplier)
    /// Whether this daemon answers `socket` (calls its model). Only the owner posts work.
    func owns(_ socket: SocketID) -> Bool
    /// Whether this daemon does what one daemon does for everyone (automatic snapshots).
    var isLeader: Bool { get }
    /// Claims a socket made by a change this daemon posted (called while applying it).
    func claimIfOrigin(_ socket: SocketID)
    /// Claims a socket this daemon made.
    func claim(_ socket: SocketID)
    /// Forgets a removed socket.
    func release(_ socket: SocketID)
    /// Whether the change being applied on this thread was posted by this daemon: a change from
    /// another daemon must also reach this kernel's caches.
    var applyingLocalChange: Bool { get }
    /// Whether changes posted by other daemons may not have been applied here yet.
    var mayLag: Bool { get }
    /// Calls `done` once every change posted anywhere before now has been applied here, so a
    /// read that decides "nothing more is coming" sees every write that finished before it.
    func catchUp(_ done: @escaping @Sendable () -> Void)
    /// Why commands cannot be logged now; nil while they can.
    var unavailableReason: String? { get }
    /// The log's lines in `/ai/ctl` (none for one daemon).
    func statusLines(sockets: [SocketID]) -> [String]
    /// What the daemon logs when it joins a shared log; nil for one daemon.
    var joinDescription: String? { get }
    /// The live daemons of the shared namespace (`/ai/cluster`); nil for one daemon.
    var members: [ClusterMember]? { get }
    /// The version and mountpoint this daemon tells the others.
    func announce(version: String, mountpoint: String)
    /// Where checkpoints of the namespace are copied from when this daemon leads (the Redis
    /// log's; docs/distributed.md).
    func useCheckpoints(from store: any SocketStore)
    /// Starts applying (once mounted); `onApplied` gets the position applied up to, for the
    /// local replica to resume from.
    func start(onApplied: @escaping @Sendable (String) -> Void)
    /// Stops, giving up what this daemon held (its sockets' leases).
    func stop()
}

/// The log the configuration asks for: a ``RedisLog`` resuming at `position` when `redisURL` is
/// set, a ``LocalLog`` otherwise.
public func makeChangeLog(redisURL: String?, position: String, settings: ClusterSettings = ClusterSettings()) throws -> any ChangeLog {
    guard let redisURL else { return LocalLog() }
    return try RedisLog(url: redisURL, position: position, settings: settings)
}

extension ChangeLog {
    /// Posts work, or a command nobody waits for.
    public func post(_ change: Change) { post(change, done: nil) }
}

/// The log of one daemon: a change is applied at once, on the thread that posts it, and
/// applying it answers `done` (at once, or when the store has committed a message).
public final class LocalLog: ChangeLog {
    public let id = "local"
    private let applierBox = Mutex<(any ChangeApplier)?>(nil)

    public init() {}

    public func attach(_ applier: any ChangeApplier) { applierBox.withLock { $0 = applier } }

    public func post(_ change: Change, done: (@Sendable (ChangeResult) -> Void)?) {
        guard let applier = applierBox.withLock({ $0 }) else {
            done?(.done(.EIO))
            return
        }
        let entry = LoggedChange(origin: id, time: WallClock.now(), change: change)
        applier.apply(entry) { result in done?(result) }
    }

    public func owns(_ socket: SocketID) -> Bool { true }
    public var isLeader: Bool { true }
    public func claimIfOrigin(_ socket: SocketID) {}
    public func claim(_ socket: SocketID) {}
    public func release(_ socket: SocketID) {}
    public var applyingLocalChange: Bool { true }
    public var mayLag: Bool { false }
    public func catchUp(_ done: @escaping @Sendable () -> Void) { done() }
    public var unavailableReason: String? { nil }
    public func statusLines(sockets: [SocketID]) -> [String] { [] }
    public var joinDescription: String? { nil }
    public var members: [ClusterMember]? { nil }
    public func announce(version: String, mountpoint: String) {}
    public func useCheckpoints(from store: any SocketStore) {}
    public func start(onApplied: @escaping @Sendable (String) -> Void) {}
    public func stop() {}
}
