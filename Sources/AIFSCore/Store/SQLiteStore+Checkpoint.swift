import Foundation
import FuseKit
import GRDB
import Synchronization

/// The checkpoint of a Redis namespace, taken from this daemon's replica (docs/distributed.md).
extension SQLiteStore {
    /// Waits until everything recorded so far is committed, then copies the database
    /// (`VACUUM INTO` on a reader: the writer goes on). The copy's `cluster_meta` is the log
    /// position it stands at: committed with the changes it stands for, journal rows included
    /// (they are applied when the copy is loaded).
    public func writeCheckpoint(to path: String) throws {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
        let committed = DispatchSemaphore(value: 0)
        let failure = Mutex<Errno?>(nil)
        record([]) { error in
            failure.withLock { $0 = error }
            committed.signal()
        }
        committed.wait()
        if let error = failure.withLock({ $0 }) { throw StoreError("the store could not commit before the checkpoint (\(error))") }
        try pool.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
    }

    /// Makes a copy from ``writeCheckpoint(to:)`` compact: the memories' FTS5 index emptied and
    /// marked unindexed (`meta.memory_indexed = 0`: the daemon that loads it indexes every
    /// memory again, in the background; a search indexes first), then vacuumed. Returns the
    /// log position the copy stands at.
    static func compactCheckpoint(at path: String) throws -> String {
        var configuration = GRDB.Configuration()
        configuration.label = "aifs.checkpoint"
        let copy = try DatabaseQueue(path: path, configuration: configuration)
        let position = try copy.write { db -> String in
            try db.execute(sql: "INSERT INTO memories_fts(memories_fts) VALUES('delete-all')")
            try db.execute(sql: "UPDATE meta SET value = 0 WHERE key = 'memory_indexed'")
            return try String.fetchOne(db, sql: "SELECT value FROM cluster_meta WHERE key = 'position'") ?? "0-0"
        }
        try copy.vacuum()
        try copy.close()
        return position
    }
}
