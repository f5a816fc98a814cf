import Foundation
import FuseKit
import GRDB

// MARK: Recording, the writer thread, and commits led by the thread that waits for them

/// Who writes. Callers append groups of events to ``EventQueue``; the writer thread takes
/// everything queued and commits it in one transaction (group commit), then does the upkeep
/// between batches (the journal's catch-up, the memory index, retention, the log's
/// checkpoint).
///
/// **Leader/follower.** A group somebody waits for (the flush of `input`: `close()` returns
/// after its commit), recorded inside a FUSE handler (an ``InlineWork`` scope is open), does
/// not wake the writer: right after the handler, with no lock held, that thread commits
/// everything queued itself — if nobody is writing (``writing`` is free). Otherwise the writer
/// (or the other leader) is at it and takes the queue next: whoever holds ``writing`` looks at
/// the queue after letting it go. So a lone durable round trip never hands off to another
/// thread and back (two wake-ups, which on 2 vCPUs beside a busy client cost milliseconds at
/// the tail), while under load the writer still groups many clients' commits. The leader only
/// commits batches that are journal rows (a few tens of µs); anything else, and all the
/// upkeep, stays on the writer thread.
extension SQLiteStore {
    public func record(_ events: [StoreEvent]) {
        guard !events.isEmpty else { return }
        startWriter()
        if pending.append(events, done: nil) { counters.withLock { $0.backlog += 1 } }
    }

    public func record(_ events: [StoreEvent], done: @escaping @Sendable (Errno?) -> Void) {
        record(events, indexingMemories: false, done: done)
    }

    /// Records `events`; with `indexingMemories`, every committed memory is indexed for search
    /// before `done` is called.
    func record(_ events: [StoreEvent], indexingMemories: Bool, done: @escaping @Sendable (Errno?) -> Void) {
        startWriter()
        let leads = !indexingMemories && events.allSatisfy(\.isJournalled) && InlineWork.defer { [self] in lead() }
        if pending.append(events, done: done, indexesMemories: indexingMemories, wakingTheWriter: !leads) {
            counters.withLock { $0.backlog += 1 }
        } else {
            DispatchQueue.global().async { done(.EIO) }
        }
    }

    func startWriter() {
        let first = started.withLock { started -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { [self] in writerLoop() }
        thread.name = "aifs.store.writer"
        thread.start()
    }

    /// Commits what is queued, on this thread, if nobody else is writing and it is all journal
    /// rows; else leaves it to the writer (woken if it would not look soon enough).
    func lead() {
        guard writing.try() else { return }  // the holder takes the queue after letting go
        if let batch = pending.takeNow(where: { $0.isJournalled }) {
            pass(batch, upkeep: false)
            counters.withLock { $0.ledTransactions += 1 }
        }
        let wake = upkeepDue ? 0 : nextWake()
        let writerLooksSoon = DaemonCounters.monotonicSeconds() + wake >= writerWakes
        writing.unlock()
        if !pending.isEmpty || !writerLooksSoon { pending.poke() }
    }

    private func writerLoop() {
        var wake = 1.0
        // Wakes at least once a second, so that deleted files are noticed (and written again)
        // even while nothing is written.
        while let batch = pending.takeAll(waitingAtMost: wake) {
            writing.lock()
            pass(batch, upkeep: true)
            wake = nextWake()
            writerWakes = DaemonCounters.monotonicSeconds() + wake
            writing.unlock()
        }
        writing.lock()
        if !kept.isEmpty, filesInPlace() == nil {  // closing: one last try
            var last = EventQueue.Batch()
            last.groups = kept.takeAll()
            write(last)
        }
        if !kept.isEmpty { dropKept("the daemon is stopping") }
        writing.unlock()
        writerDone.signal()
    }

    /// One batch: the check of the files, kept groups first, the batch; then, with `upkeep`,
    /// the work due between batches. Holding ``writing``.
    private func pass(_ batch: EventQueue.Batch, upkeep: Bool) {
        var batch = batch
        if let refusal = filesInPlace() {
            if !batch.isEmpty { fail(batch, refusal) }
            // The file was replaced: nothing can be written until a remount.
            if !kept.isEmpty { dropKept("the store's file was replaced (\(refusal))") }
            return
        }
        // Kept groups are older than the batch: they go first, with anything new, or alone
        // when their back-off allows.
        if !kept.isEmpty, !batch.isEmpty || kept.backoff.isDue() { batch.groups = kept.takeAll() + batch.groups }
        if !batch.isEmpty {
            write(batch)
            lastWrite = Date()
        }
        guard upkeep else { return }
        if let statements, statements.isLong { pool.writeWithoutTransaction { _ in statements.checkpointIfLong() } }
        let idle = Date().timeIntervalSince(lastWrite)
        if journalRetry.isDue(), journal.isFull || (journal.isBehind && idle >= journal.delay) { applyJournalWhenDue() }
        if indexRetry.isDue(), indexer.isFull || (indexer.isBehind && idle >= indexer.delay) { indexMemories() }
        if retention.isDue() { prune() }
    }

    /// Upkeep the writer should do now, not when it next wakes by itself.
    private var upkeepDue: Bool {
        (statements?.isLong ?? false) || journal.isFull || indexer.isFull || retention.isDue()
    }

    /// Seconds until the writer has work of its own: kept groups, the journal or the index, each
    /// when its back-off allows; at most 1 (the check of the files).
    private func nextWake() -> Double {
        var wake = 1.0
        if !kept.isEmpty { wake = min(wake, max(0.001, kept.backoff.remaining())) }
        if journal.isBehind { wake = min(wake, max(journal.isFull ? 0 : journal.delay, journalRetry.remaining())) }
        if indexer.isBehind { wake = min(wake, max(indexer.delay, indexRetry.remaining())) }
        return wake
    }
}

extension EventQueue.Group {
    /// Every event of the group becomes journal ops (and it does not ask for the index): a
    /// commit of one journal row.
    var isJournalled: Bool { !indexesMemories && events.allSatisfy(\.isJournalled) }
}
