import Synchronization

/// A value behind a lock that tasks can wait on: `update` changes it from any thread and
/// resumes every waiter whose condition now holds; `wait(until:)` suspends (a continuation,
/// never a blocked thread) until the condition holds, or throws `CancellationError` when the
/// waiting task is cancelled. The test side of an ``InProcessSession`` waits with it.
final class Observed<State: Sendable>: @unchecked Sendable {
    /// A suspended `wait(until:)`.
    private struct Waiter {
        let id: UInt64
        let isReady: @Sendable (State) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// The value and who waits on it.
    private struct Inner {
        var state: State
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waiters cancelled before they were added.
        var cancelled: Set<UInt64> = []
    }

    private let inner: Mutex<Inner>

    init(_ state: State) {
        inner = Mutex(Inner(state: state))
    }

    /// The current value.
    var value: State { inner.withLock { $0.state } }

    /// Changes the value and resumes the waiters it satisfies (after unlocking).
    func update(_ change: (inout State) -> Void) {
        let ready = inner.withLock { inner -> [CheckedContinuation<Void, any Error>] in
            change(&inner.state)
            let state = inner.state
            var ready: [CheckedContinuation<Void, any Error>] = []
            inner.waiters.removeAll { waiter in
                guard waiter.isReady(state) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Returns once `isReady` holds for the value (at once if it holds now).
    func wait(until isReady: @escaping @Sendable (State) -> Bool) async throws {
        let id = inner.withLock { inner -> UInt64 in
            defer { inner.nextID += 1 }
            return inner.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = inner.withLock { inner -> Bool? in
                    if isReady(inner.state) { return true }
                    if inner.cancelled.remove(id) != nil { return false }
                    inner.waiters.append(Waiter(id: id, isReady: isReady, continuation: continuation))
                    return nil
                }
                switch outcome {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let continuation = inner.withLock { inner -> CheckedContinuation<Void, any Error>? in
                if let index = inner.waiters.firstIndex(where: { $0.id == id }) {
                    return inner.waiters.remove(at: index).continuation
                }
                inner.cancelled.insert(id)  // not added yet: refuse it when it comes
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
    }
}
