import Foundation
import FuseKit
import GRDB

/// The writer's upkeep between batches: the journal written into the tables, the memory index
/// caught up, retention, each retried with a ``Backoff`` after a failure. Writer thread only.
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
}
