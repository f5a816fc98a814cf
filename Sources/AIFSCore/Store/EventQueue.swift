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
    /// ``poke()`` was called: the writer's wait ends.
    private var poked = false
    /// The writer holds groups nobody waits for, waiting a moment for company.
    private var coalescing = false

    /// Queues a group; false (and nothing queued) once closed. Without `wakingTheWriter` the
    /// caller commits it itself (``SQLiteStore/lead()``), or whoever is writing takes it next.
    @discardableResult
    func append(_ events: [StoreEvent], done: (@Sendable (Errno?) -> Void)?, indexesMemories: Bool = false,
                wakingTheWriter: Bool = true) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        batch.groups.append(Group(events: events, done: done, indexesMemories: indexesMemories))
        if wakingTheWriter { condition.signal() }
        return true
    }

    /// Everything queued, at once, if every group passes `eligible`; nil otherwise (nothing is
    /// taken) or if nothing is queued. A writer waiting for company for what it holds is told.
    func takeNow(where eligible: (Group) -> Bool) -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        guard !batch.isEmpty, batch.groups.allSatisfy(eligible) else { return nil }
        defer { batch = Batch() }
        if coalescing { condition.broadcast() }
        return batch
    }

    /// Ends the writer's wait now (with whatever is queued, or an empty batch).
    func poke() {
        condition.lock()
        poked = true
        condition.signal()
        condition.unlock()
    }

    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return batch.isEmpty
    }

    /// Everything queued so far; waits until there is something (or `seconds` pass, returning an
    /// empty batch). Nil once closed and drained.
    func takeAll(waitingAtMost seconds: Double?) -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        defer { poked = false }
        while batch.isEmpty && !closed && !poked {
            if let seconds {
                if !condition.wait(until: Date(timeIntervalSinceNow: seconds)) { return Batch() }
            } else {
                condition.wait()
            }
        }
        if batch.isEmpty && closed { return nil }
        // Nobody waits for these (a reply's bookkeeping, read cursors): hold them a moment so
        // they share the next acknowledged commit's transaction instead of delaying it (or a
        // leader takes them with its own, ``takeNow(where:)``).
        let deadline = Date(timeIntervalSinceNow: Self.coalesceWindow)
        coalescing = true
        while !closed, !poked, !batch.isEmpty, !batch.groups.contains(where: { $0.done != nil }), Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        coalescing = false
        defer { batch = Batch() }
        return batch
    }

    /// How long groups that nobody waits for may wait for company.
    static let coalesceWindow = 0.002

    /// Whether a group somebody waits for (a `close()`) is queued: the journal's catch-up
    /// yields to it (see ``Journal/apply(_:_:yielding:)``).
    var somebodyWaits: Bool {
        condition.lock()
        defer { condition.unlock() }
        return batch.groups.contains { $0.done != nil }
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
