import Dispatch
import Synchronization

/// Fairness between users in front of the store: at most ``limit`` requests of one uid wait for
/// a commit at once (`mkdir`, `rmdir`, `rename`, `chmod`/`chown` of a socket, the `close()` of an
/// `input` or a `prompt`). A further request of that uid waits here, in order, until one of its
/// own is answered; the other uids' requests never wait behind it. So a user who floods from
/// many threads fills the store's transactions with at most ``limit`` of their requests, and
/// everyone else's commit still comes within a transaction or two.
///
/// `input` opened `O_NONBLOCK` gets `EAGAIN` at its first write instead of waiting, as it does
/// when the socket's queue is full. Waiting costs no thread: the request is parked and its work
/// runs on this gate's queue when a place is free. `[limits] waiting_per_uid` sets the bound.
public final class UIDAdmission: Sendable {
    private struct Entry {
        var running = 0
        var parked: [@Sendable (@escaping @Sendable () -> Void) -> Void] = []
    }
    private let entries = Mutex<[UInt32: Entry]>([:])
    private let bound: Mutex<Int>
    private let queue = DispatchQueue(label: "aifs.admission")

    public init(limit: Int) {
        bound = Mutex(limit)
    }

    /// The most requests of one uid that wait for the store at once (a reload may change it).
    public var limit: Int {
        get { bound.withLock { $0 } }
        set { bound.withLock { $0 = newValue } }
    }

    /// Runs `work` now if `uid` has fewer than the limit of requests waiting for the store,
    /// else once one of them leaves. `work` gets `leave`, to call once its request is answered
    /// (calling it again does nothing).
    public func enter(_ uid: UInt32, _ work: @escaping @Sendable (_ leave: @escaping @Sendable () -> Void) -> Void) {
        let bound = max(1, limit)
        let now = entries.withLock { entries -> Bool in
            var entry = entries[uid] ?? Entry()
            defer { entries[uid] = entry }
            if entry.running < bound {
                entry.running += 1
                return true
            }
            entry.parked.append(work)
            return false
        }
        if now { work(leaver(uid)) }
    }

    /// Whether a request of `uid` would wait now (for `O_NONBLOCK`: `EAGAIN` instead).
    public func isFull(_ uid: UInt32) -> Bool {
        let bound = max(1, limit)
        return entries.withLock { ($0[uid]?.running ?? 0) >= bound }
    }

    /// Posts `change` for `uid` once it has a place, and gives the place back when `done` has run:
    /// the one way a request that waits for a change enters the gate.
    public func post(_ change: Change, as uid: UInt32, to log: any ChangeLog,
                     done: @escaping @Sendable (ChangeResult) -> Void) {
        enter(uid) { leave in
            ChangeContext.posting(as: uid) {
                log.post(change) { result in
                    done(result)
                    leave()
                }
            }
        }
    }

    /// Requests of `uid` waiting for the store, and those waiting for a place (for the tests).
    public func counts(_ uid: UInt32) -> (running: Int, parked: Int) {
        entries.withLock { ($0[uid]?.running ?? 0, $0[uid]?.parked.count ?? 0) }
    }

    private func leaver(_ uid: UInt32) -> @Sendable () -> Void {
        let once = Mutex(false)
        return { [self] in
            guard once.withLock({ done in defer { done = true }; return !done }) else { return }
            leave(uid)
        }
    }

    /// A place of `uid` is free: the oldest parked request of that uid takes it.
    private func leave(_ uid: UInt32) {
        let next = entries.withLock { entries -> (@Sendable (@escaping @Sendable () -> Void) -> Void)? in
            guard var entry = entries[uid] else { return nil }
            defer { entries[uid] = entry.running == 0 && entry.parked.isEmpty ? nil : entry }
            if !entry.parked.isEmpty { return entry.parked.removeFirst() }
            entry.running -= 1
            return nil
        }
        if let next { queue.async { [self] in next(leaver(uid)) } }
    }
}
