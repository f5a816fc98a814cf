import Foundation
import GRDB

/// Loading, once, before the mount.
extension SQLiteStore {
    /// Writes what the journal still holds into the tables (the daemon stopped before it did),
    /// then reads every socket back.
    public func load() throws -> StoreContents {
        do {
            let lastMemory = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM memories") } ?? 0
            retention.memoryIDs = MemoryID(after: lastMemory)
            try pool.read { db in try journal.load(db) }
            if journal.isBehind { try applyJournalNow() }
            let contents = try pool.write { db in try StoreLoader(db: db).load() }
            let count = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memories") } ?? 0
            retention.rowCount = count
            try pool.read { db in try indexer.load(db) }
            return contents
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot read the store at \(options.path): \(error)")
        }
    }
}
