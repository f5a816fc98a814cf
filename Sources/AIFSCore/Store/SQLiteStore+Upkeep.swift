import Foundation
import FuseKit
import GRDB

/// The writer's upkeep between batches: the journal written into the tables, the memory index
/// caught up, retention, each retried with a ``Backoff`` after a failure; and the answers to a
/// batch's groups, what cannot be written, and kept groups given up. Writer thread only.
extension SQLiteStore {
    /// Writes the journal into the tables in its own transaction (see ``Journal``).
    func applyJournalNow() throws {
        var applied = 0, memories = 0
        try pool.writeWithoutTransaction { db in
            let raw = writerStatements(db)
            try raw.transaction {
                memories = try writing(db, raw) { writer in applied = try journal.apply(db, &writer) }
            }
        }
        committed(journalRows: applied, memories: memories, indexed: nil)
        counters.withLock { $0.transactions += 1 }
    }

    func applyJournalWhenDue() {
        do {
            try applyJournalNow()
            journalRetry.succeeded()
        } catch {
            journalRetry.failed()
            logger.error("store: writing the journal into the tables failed; tried again in \(journalRetry.remaining()) s",
                         metadata: ["error": "\(error)"])
        }
    }

    /// `ENOSPC` when the disk (or the database's size limit) is full, so that `close()` says so;
    /// `EIO` for anything else.
    /// Whether `error` can pass by itself (the disk full, an I/O error, the file busy), so that
    /// what failed is worth keeping and writing again.
    static func isResource(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_CANTOPEN].contains(error.resultCode)
    }

    static func failure(for error: any Error) -> Errno {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL { return .ENOSPC }
        return .EIO
    }

    /// Indexes a chunk of the committed memories not yet searchable, in its own transaction.
    func indexMemories() {
        do {
            let step = try pool.write { db in try indexer.index(db, limit: MemoryIndexer.chunk) }
            if let step { indexer.advanced(step) }
            indexRetry.succeeded()
        } catch {
            indexRetry.failed()
            logger.error("memory indexing failed; tried again in \(indexRetry.remaining()) s", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes memories past the retention policy, a bounded chunk per transaction.
    func prune() {
        do {
            try retention.prune(pool)
        } catch {
            logger.error("memory retention failed", metadata: ["error": "\(error)"])
        }
    }

    /// Answers every group of a batch that cannot be written with `errno`.
    func fail(_ batch: EventQueue.Batch, _ errno: Errno) {
        counters.withLock { c in
            c.groups += batch.groups.count
            c.failedGroups += batch.groups.count
            c.backlog -= batch.groups.count
        }
        answer(batch) { _ in errno }
    }

    /// Gives up the kept groups (they can no longer be written), saying so in the log.
    func dropKept(_ why: String) {
        let lost = kept.takeAll().count
        counters.withLock { c in
            c.groups += lost
            c.failedGroups += lost
            c.backlog -= lost
        }
        logger.error("store: \(lost) groups nobody waits for, kept after a failed write, are lost: \(why)")
    }

    /// Calls the groups' `done` (group `index` with `errno(index)`) inside one ``InlineWork`` scope: what they start and can finish
    /// at once (an `echo` reply) runs here, on the writer thread, before the writers' `close()`
    /// return, instead of in a task on another thread.
    func answer(_ batch: EventQueue.Batch, errno: (Int) -> Errno?) {
        InlineWork.begin()
        for (index, group) in batch.groups.enumerated() { group.done?(errno(index)) }
        InlineWork.end()
    }
}
