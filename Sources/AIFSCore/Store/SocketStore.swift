import FuseKit

/// The storage boundary: everything a socket must not lose passes through here.
///
/// The tree and the sockets keep their live state in memory and tell the store about every
/// change; the store decides how durable that is. ``commit(_:to:done:)`` is the one call that
/// waits: a message is acknowledged to the writer (`close()` returns 0) only once `done` has
/// been called without an error, and `done` may come later from any thread (the FUSE request
/// is parked meanwhile, never blocking the loop).
public protocol SocketStore: Sendable {
    /// Makes `message` durable for socket `socket`; calls `done(nil)` when it is, or with the
    /// errno to fail the writer's `close()` with.
    func commit(_ message: InputMessage, to socket: SocketID, done: @escaping @Sendable (Errno?) -> Void)
    /// Records a change that needs no acknowledgement (settings, replies, transcript, removal).
    func record(_ event: StoreEvent)
    /// A human description for `/ai/ctl` (`memory`, or a path).
    var location: String { get }
}

/// A change to persist.
public enum StoreEvent: Sendable {
    case socketCreated(SocketID, name: String)
    case socketRenamed(SocketID, name: String)
    case socketRemoved(SocketID)
    case settingsChanged(SocketID)
    case transcriptAppended(SocketID, bytes: Int)
    case replyCompleted(SocketID, messageID: UInt64)
}

/// Keeps nothing beyond the process: the store until the durable one lands. Commits are
/// immediate.
public final class InMemoryStore: SocketStore {
    public init() {}
    public func commit(_ message: InputMessage, to socket: SocketID, done: @escaping @Sendable (Errno?) -> Void) {
        done(nil)
    }
    public func record(_ event: StoreEvent) {}
    public var location: String { "memory (not persisted)" }
}
