import Synchronization

/// A tool call waiting for `approve ID` or `deny ID`: what `pending/ID` shows. Every daemon
/// keeps the same list (from the owner's ``ToolEvent/pending(id:name:arguments:reason:)``);
/// the call's result removes it.
struct PendingCall: Sendable {
    var id: String
    var message: UInt64
    var name: String
    var arguments: String
    var reason: String
    var since: Double
    /// Numbers the calls of this socket as they wait, for their inodes (never reused while the daemon runs).
    var number: UInt32
    /// `approve` was applied; the owner is running it.
    var approved = false

    /// The text of `pending/ID`: `key: value` lines, the arguments last (they may span lines).
    var text: String {
        """
        id: \(id)
        tool: \(name)
        message: \(message)
        since: \(WallClock.iso8601(since))
        state: \(approved ? "approved" : "waiting")
        reason: \(reason)
        arguments: \(arguments)

        """
    }
}


/// How a pending call was decided, as the owner's agent loop learns it.
enum ToolDecisionValue: Sendable, Equatable {
    case approved
    case denied(String)
    case timedOut
    /// The request ended (cancel, reset, rmdir, shutdown) while the call waited.
    case cancelled
}

/// Where the owner's agent loop waits for a pending call to be decided, without a thread:
/// `approve`/`deny` (applied from the log), the confirmation timeout, or the request's end
/// decide it, the first one wins.
final class ToolDecision: Sendable {
    private let state = Mutex<(value: ToolDecisionValue?, waiter: CheckedContinuation<ToolDecisionValue, Never>?)>((nil, nil))

    /// Decides the call (once; later decisions are ignored).
    func decide(_ value: ToolDecisionValue) {
        let waiter: CheckedContinuation<ToolDecisionValue, Never>? = state.withLock { s in
            guard s.value == nil else { return nil }
            s.value = value
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: value)
    }

    /// The decision, once there is one; the task's cancellation decides `.cancelled`.
    func wait() async -> ToolDecisionValue {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ToolDecisionValue, Never>) in
                let now: ToolDecisionValue? = state.withLock { s in
                    if let value = s.value { return value }
                    s.waiter = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            decide(.cancelled)
        }
    }
}
