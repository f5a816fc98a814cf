import Dispatch

/// Runs work once a delay has passed. The deadlines that end other work (a team-chat round's
/// `timeout`) are scheduled through one of these, taken from ``SocketEnvironment/timers``: the
/// daemon uses real time (``DispatchTimers``); a test passes a scheduler it fires itself, once
/// the work the deadline races has been seen to finish, so a loaded machine cannot make a
/// deadline fire before instant work ran.
public protocol TimerScheduler: Sendable {
    /// Runs `body` on `queue` once `seconds` have passed.
    func schedule(after seconds: Double, on queue: DispatchQueue, _ body: @escaping @Sendable () -> Void)
}

/// Real time: `DispatchQueue.asyncAfter`.
public struct DispatchTimers: TimerScheduler {
    public init() {}

    public func schedule(after seconds: Double, on queue: DispatchQueue, _ body: @escaping @Sendable () -> Void) {
        queue.asyncAfter(deadline: .now() + seconds, execute: body)
    }
}
