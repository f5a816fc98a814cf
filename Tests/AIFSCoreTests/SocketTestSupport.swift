@testable import AIFSCore
import Dispatch
import FuseKit
import Synchronization
import Testing

/// Driving a socket without a mount: submit a message and wait for its commit, wait until the
/// queue is answered.
///
/// Waiting here is for events, never for a fixed time: a condition is polled, and the deadline
/// (a minute) only bounds a failure, so a loaded machine is slower, never wrong.
enum SocketTestSupport {
    /// How long a wait for an event may take before the test fails: far beyond any expected path.
    static let failureBound: Duration = .seconds(60)

    static func submit(_ socket: Socket, _ text: String, uid: UInt32 = 0) async -> Errno? {
        await withCheckedContinuation { continuation in
            socket.submit(Array(text.utf8), uid: uid) { continuation.resume(returning: $0) }
        }
    }

    static func idle(_ socket: Socket, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await eventually("socket \(socket.name) becomes idle", sourceLocation: sourceLocation) {
            let info = socket.info
            return !info.inFlight && info.queued == 0
        }
    }

    /// Polls `condition` until it holds; records an issue (and returns false) if it never does
    /// within ``failureBound``.
    @discardableResult
    static func eventually(_ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                           _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + failureBound
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        if try condition() { return true }
        Issue.record("waited \(failureBound) for: \(what)", sourceLocation: sourceLocation)
        return false
    }
}

/// A ``TimerScheduler`` whose time stands still: deadlines fire only when the test says so,
/// after the work they race has been seen to finish.
final class ManualTimers: TimerScheduler {
    private struct Pending {
        let seconds: Double
        let queue: DispatchQueue
        let body: @Sendable () -> Void
    }
    private let pending = Mutex<[Pending]>([])

    func schedule(after seconds: Double, on queue: DispatchQueue, _ body: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(Pending(seconds: seconds, queue: queue, body: body)) }
    }

    /// The delays scheduled and not fired yet, oldest first.
    var scheduled: [Double] { pending.withLock { $0.map(\.seconds) } }

    /// Waits until a deadline is scheduled (scheduling may trail the call that causes it), then
    /// fires the oldest as if its time had come, on its queue; returns its delay.
    @discardableResult
    func fireNext(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Double? {
        try await SocketTestSupport.eventually("a deadline is scheduled", sourceLocation: sourceLocation) { !scheduled.isEmpty }
        guard let next = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return nil }
        next.queue.async(execute: next.body)
        return next.seconds
    }
}
