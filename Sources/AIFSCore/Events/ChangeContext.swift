#if canImport(Glibc)
import Glibc
#endif

/// What the thread posting or applying a change knows about it, for the events it causes:
/// the uid of the request that posted it, and whether a change is being applied (and whether
/// another daemon posted it). Kept per thread (a pthread key): changes are posted from the
/// FUSE loop and applied on the poster's thread (one daemon) or the Redis tailer, never
/// across an `await`.
enum ChangeContext {
    /// The change being applied on this thread.
    struct Applying {
        var uid: UInt32?
        /// Posted by another daemon: its events are that daemon's to publish.
        var remote: Bool
    }

    final class Slot {
        var posterUID: UInt32?
        var applying: Applying?
    }

    nonisolated(unsafe) static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<Slot>.fromOpaque(pointer).release() }
        }
        return key
    }()

    static var slot: Slot {
        if let pointer = pthread_getspecific(key) { return Unmanaged<Slot>.fromOpaque(pointer).takeUnretainedValue() }
        let slot = Slot()
        pthread_setspecific(key, Unmanaged.passRetained(slot).toOpaque())
        return slot
    }

    /// The uid a change posted now is made for (``LoggedChange/uid``).
    static var posterUID: UInt32? { slot.posterUID }

    /// Runs `body` (which posts a change) on behalf of `uid`.
    static func posting<T>(as uid: UInt32, _ body: () throws -> T) rethrows -> T {
        let slot = slot
        let previous = slot.posterUID
        slot.posterUID = uid
        defer { slot.posterUID = previous }
        return try body()
    }

    /// The change being applied on this thread, if any.
    static var applying: Applying? { slot.applying }

    /// Runs `body` (which applies `entry`) with the entry as this thread's context.
    static func applying<T>(_ entry: LoggedChange, remote: Bool, _ body: () throws -> T) rethrows -> T {
        let slot = slot
        let previous = slot.applying
        slot.applying = Applying(uid: entry.causeUID, remote: remote)
        defer { slot.applying = previous }
        return try body()
    }
}

extension ChangeContext {
    /// Runs `body` with `context` as the change being applied: work a change started that ends
    /// on another thread (a snapshot's commit, a restore) derives its events as that change's.
    static func resuming<T>(_ context: Applying?, _ body: () throws -> T) rethrows -> T {
        let slot = slot
        let previous = slot.applying
        slot.applying = context
        defer { slot.applying = previous }
        return try body()
    }
}

extension LoggedChange {
    /// Whose request the change is: the poster's uid, else the one the change itself names.
    var causeUID: UInt32? {
        if let uid { return uid }
        switch change {
        case .create(_, _, let uid, _, _), .submit(_, _, _, let uid, _, _), .control(_, _, let uid, _), .daemonControl(_, let uid, _):
            return uid
        default:
            return nil
        }
    }
}
