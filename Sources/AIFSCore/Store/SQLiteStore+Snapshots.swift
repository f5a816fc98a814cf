import Foundation
import GRDB

// MARK: Snapshots

/// Snapshots: the catalog, one file of a past state, the storage they use, and the live sockets
/// as they stand in the database after a restore.
extension SQLiteStore {
    public var supportsSnapshots: Bool { true }

    public func snapshotCatalog() throws -> [SnapshotInfo] {
        try pool.read { db in try SnapshotStore(db: db).catalog() }
    }

    /// Reads after everything recorded before the call is committed, on the search queue.
    public func readSnapshotFile(state: Int64, _ file: SnapshotFile, done: @escaping @Sendable (Result<[UInt8], SnapshotFailure>) -> Void) {
        record([]) { [self] _ in
            searchQueue.async { [self] in
                do {
                    done(.success(try pool.read { db in try SnapshotStore(db: db).file(state: state, file) }))
                } catch {
                    done(.failure(SnapshotFailure(.EIO, "cannot read the snapshot: \(error)")))
                }
            }
        }
    }

    public func loadSockets(_ ids: [SocketID]) throws -> [SocketSnapshot] {
        try pool.write { db in
            let loader = StoreLoader(db: db)
            return try ids.compactMap { id in
                try Row.fetchOne(db, sql: "SELECT * FROM socket WHERE id = ?", arguments: [Int64(id)]).map { try loader.snapshot($0, tidy: true) }
            }
        }
    }

    public func snapshotStorageBytes() -> Int? {
        try? pool.read { db in try SnapshotStore(db: db).storageBytes() }
    }
}
