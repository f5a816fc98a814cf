import Foundation
import FuseKit

/// The writer's inbox: groups of events, each group applied together, with the callbacks to
/// run once the batch holding them commits.
///
/// Whoever commits holds the *commit token* (``takeAll(waitingAtMost:)`` for the writer thread,
/// ``takeForLeader()`` for a caller on the FUSE loop thread), so batches are written one at a
/// time and in order, and the writer's private state (file checks, retention) is only touched
/// by the holder. Leader/follower group commit: a message flushed while nobody is committing is
/// committed by the loop thread itself, right after its handler (no hand-off); one flushed
/// while a commit is running waits in the queue, and the next commit takes it with everything
/// else queued meanwhile.
final class EventQueue: @unchecked Sendable {
    struct Group {
        var events: [StoreEvent]
        var done: (@Sendable (Errno?) -> Void)?
    }
    struct Batch {
        var groups: [Group] = []
        var isEmpty: Bool { groups.isEmpty }
    }
    private let condition = NSCondition()
    private var batch = Batch()
    private var closed = false
    /// A batch is being written (by the writer thread or a leader).
    private var committing = false

    /// Queues a group; false (and nothing queued) once closed. `wake`: tell the writer thread
    /// (not when a leader will commit it right after).
    @discardableResult
    func append(_ events: [StoreEvent], done: (@Sendable (Errno?) -> Void)?, wake: Bool = true) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        batch.groups.append(Group(events: events, done: done))
        if wake { condition.signal() }
        return true
    }

    /// Everything queued, with the commit token, if nobody is committing; nil (the holder will
    /// take what is queued next) otherwise, or once closed. Call ``finishCommit()`` after.
    func takeForLeader() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard !committing, !closed, !batch.isEmpty else { return nil }
        committing = true
        defer { batch = Batch() }
        return batch
    }

    /// The writer thread's turn: everything queued so far, with the commit token; waits until
    /// there is something and nobody else is committing (or `seconds` pass: an empty batch,
    /// token held, for the idle checks). Nil once closed and drained. Groups nobody waits for
    /// (a reply's bookkeeping, read cursors) are held up to ``coalesceWindow`` so they share
    /// the next acknowledged commit instead of delaying it. Call ``finishCommit()`` after.
    func takeAll(waitingAtMost seconds: Double) -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        let idleUntil = Date(timeIntervalSinceNow: seconds)
        var coalesceUntil: Date?
        while true {
            if committing {
                condition.wait()  // a leader is writing; finishCommit() wakes us
                continue
            }
            if batch.isEmpty {
                if closed { return nil }
                coalesceUntil = nil
                if Date() >= idleUntil { break }
                _ = condition.wait(until: idleUntil)
            } else {
                if closed || batch.groups.contains(where: { $0.done != nil }) { break }
                let deadline = coalesceUntil ?? Date(timeIntervalSinceNow: Self.coalesceWindow)
                coalesceUntil = deadline
                if Date() >= deadline { break }
                _ = condition.wait(until: deadline)
            }
        }
        committing = true
        defer { batch = Batch() }
        return batch
    }

    /// Gives the commit token back; the writer takes what was queued meanwhile.
    func finishCommit() {
        condition.lock()
        committing = false
        condition.broadcast()
        condition.unlock()
    }

    /// How long groups that nobody waits for may wait for company.
    static let coalesceWindow = 0.002

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
