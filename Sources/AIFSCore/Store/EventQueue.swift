import Foundation
import FuseKit

/// The writer's inbox: groups of events, each group applied together, with the callbacks to
/// run once the batch holding them commits.
final class EventQueue: @unchecked Sendable {
    struct Group {
        var events: [StoreEvent]
        var done: (@Sendable (Errno?) -> Void)?
        /// Index every committed memory before `done` (a search waits for this).
        var indexesMemories = false
    }
    struct Batch {
        var groups: [Group] = []
        var isEmpty: Bool { groups.isEmpty }
        /// A group takes or restores a snapshot, whose ticket hears the result inside the
        /// transaction: such a batch is never applied twice.
        var reportsAsItGoes: Bool {
            groups.contains { $0.events.contains {
                switch $0 {
                case .snapshotTaken, .snapshotRestored: return true
                default: return false
                }
            } }
        }
    }
    private let condition = NSCondition()
    private var batch = Batch()
    private var closed = false

    /// Queues a group; false (and nothing queued) once closed.
    @discardableResult
    func append(_ events: [StoreEvent], done: (@Sendable (Errno?) -> Void)?, indexesMemories: Bool = false) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        batch.groups.append(Group(events: events, done: done, indexesMemories: indexesMemories))
        condition.signal()
        return true
    }

    /// Everything queued so far; waits until there is something (or `seconds` pass, returning an
    /// empty batch). Nil once closed and drained.
    func takeAll(waitingAtMost seconds: Double?) -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while batch.isEmpty && !closed {
            if let seconds {
                if !condition.wait(until: Date(timeIntervalSinceNow: seconds)) { return Batch() }
            } else {
                condition.wait()
            }
        }
        if batch.isEmpty && closed { return nil }
        // Nobody waits for these (a reply's bookkeeping, read cursors): hold them a moment so
        // they share the next acknowledged commit's transaction instead of delaying it.
        let deadline = Date(timeIntervalSinceNow: Self.coalesceWindow)
        while !closed, !batch.groups.contains(where: { $0.done != nil }), Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        defer { batch = Batch() }
        return batch
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
