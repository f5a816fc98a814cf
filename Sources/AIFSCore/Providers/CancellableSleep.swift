import Dispatch
import Synchronization

/// A sleep for deadlines that are usually cancelled: the timer is freed the moment the sleep is
/// cancelled.
///
/// `Task.sleep` on Linux schedules a dispatch timer that outlives a cancellation: the timer
/// source and the task it would resume stay allocated until the original deadline. The HTTP
/// providers race each request against a total timeout (300 s by default) and an idle watchdog,
/// and cancel both when the reply ends, so every request left about 600 bytes behind for five
/// minutes: under the load test (136 requests/s) the daemon's RSS grew 9 MiB a minute, and
/// would have levelled off only after 300 s at some 25 MiB.
enum CancellableSleep {
    /// Returns after `seconds`, or throws `CancellationError` as soon as the task is cancelled.
    static func sleep(seconds: Double) async throws {
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                sleeper.start(continuation, seconds: seconds)
            }
        } onCancel: {
            sleeper.cancel()
        }
    }

    private final class Sleeper: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Void, any Error>?
            var timer: (any DispatchSourceTimer)?
            var cancelled = false
        }
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<Void, any Error>, seconds: Double) {
            let cancelledAlready = state.withLock { s -> Bool in
                if s.cancelled { return true }
                let timer = DispatchSource.makeTimerSource(queue: .global())
                timer.schedule(deadline: .now() + max(0, seconds))
                timer.setEventHandler { [self] in finish(nil) }
                s.continuation = continuation
                s.timer = timer
                timer.activate()
                return false
            }
            if cancelledAlready { continuation.resume(throwing: CancellationError()) }
        }

        func cancel() { finish(CancellationError()) }

        /// Resumes the sleeper once (the timer fired, or the task was cancelled) and frees the timer.
        private func finish(_ error: (any Error)?) {
            let (continuation, timer) = state.withLock { s -> (CheckedContinuation<Void, any Error>?, (any DispatchSourceTimer)?) in
                s.cancelled = true
                defer { s.continuation = nil; s.timer = nil }
                return (s.continuation, s.timer)
            }
            timer?.cancel()
            if let error { continuation?.resume(throwing: error) } else { continuation?.resume() }
        }
    }
}
