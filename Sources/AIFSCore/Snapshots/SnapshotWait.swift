import Synchronization

/// The automatic snapshot a destructive act takes first (`before-rmdir`, `before-reset`),
/// for the act's answer to wait on: the snapshot is queued before the act, so it holds what
/// the act destroys, and the caller is answered only once it is stored and listed, whichever
/// of the two finishes first. A snapshot that fails does not undo the act.
final class SnapshotWait: Sendable {
    private let state = Mutex<(stored: Bool, waiters: [@Sendable () -> Void])>((false, []))

    /// The snapshot is stored (or failed): runs every waiter.
    func stored() {
        let waiters = state.withLock { s -> [@Sendable () -> Void] in
            s.stored = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter() }
    }

    /// Runs `body` once the snapshot is stored: now if it is already.
    func whenStored(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if !s.stored { s.waiters.append(body) }
            return s.stored
        }
        if now { body() }
    }
}
