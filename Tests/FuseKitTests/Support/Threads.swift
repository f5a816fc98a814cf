import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A `pthread_barrier_t`: `parties` threads call ``wait()`` and all return once the last one
/// has arrived. Only ever waited on from threads of our own, never from a task.
final class Barrier: @unchecked Sendable {
    private let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)

    init(_ parties: Int) {
        pthread_barrier_init(barrier, nil, UInt32(parties))
    }

    deinit {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }

    func wait() { _ = pthread_barrier_wait(barrier) }
}

/// Threads for racing: never the cooperative pool, so a test that waits on them never starves
/// another test's tasks.
enum Threads {
    /// Runs `body` on a thread of its own; returns its result without blocking the caller.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(0..<count)` on `count` new threads released together by a barrier; returns
    /// once every one has finished.
    static func race(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let start = Barrier(count)
            let finished = Counter()
            for index in 0..<count {
                Thread {
                    start.wait()
                    body(index)
                    if finished.increment() == count { continuation.resume() }
                }.start()
            }
        }
    }
}

/// `pthread` workers that run one step each per round, all at once: ``round(_:)`` hands every
/// worker its step, releases them together and returns when all are done. Meant to be driven
/// from a thread of our own (``Threads/run(_:)``): each round blocks the driving thread.
final class RacingWorkers: @unchecked Sendable {
    private let count: Int
    private let start: Barrier
    private let end: Barrier
    private let steps: Mutex<[(@Sendable () -> Void)?]>
    private let stopping = Atomic<Bool>(false)

    init(_ count: Int) {
        self.count = count
        start = Barrier(count + 1)
        end = Barrier(count + 1)
        steps = Mutex(Array(repeating: nil, count: count))
        for index in 0..<count {
            let thread = Thread { [self] in
                while true {
                    start.wait()
                    if stopping.load(ordering: .acquiring) { break }
                    do {
                        // Let go of the step (and what it captured) before the round ends.
                        let step = steps.withLock { $0[index] }
                        step?()
                    }
                    end.wait()
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `steps[i]` on worker `i`, all released at the same instant; returns when all ran.
    func round(_ steps: [@Sendable () -> Void]) {
        precondition(steps.count == count)
        self.steps.withLock { $0 = steps }
        start.wait()
        end.wait()
        // Let go of what the steps captured before the caller looks at it.
        self.steps.withLock { $0 = Array(repeating: nil, count: count) }
    }

    /// Ends the worker threads.
    func finish() {
        stopping.store(true, ordering: .releasing)
        start.wait()
    }
}

/// A shared counter for closures that escape (an `Atomic` cannot be captured by one).
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)

    /// Adds one; returns the new value.
    @discardableResult
    func increment() -> Int { atomic.add(1, ordering: .acquiringAndReleasing).newValue }

    func decrement() { atomic.subtract(1, ordering: .acquiringAndReleasing) }

    var value: Int { atomic.load(ordering: .acquiring) }
}

/// A value behind a lock, shareable with closures that escape (a `Mutex` cannot be captured
/// by one).
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }

    var value: Value { mutex.withLock { $0 } }
}

/// A one-shot signal a thread raises and a task awaits (without holding a thread).
final class Signal: @unchecked Sendable {
    private let state = Mutex<(raised: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func raise() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.raised = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.raised { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}
