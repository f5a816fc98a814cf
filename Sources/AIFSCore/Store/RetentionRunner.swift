import Foundation
import GRDB

/// Applies the memory retention policy in small steps on the writer thread, between batches:
/// each step deletes at most ``chunk`` memories in its own transaction, so a commit waiting
/// behind it waits milliseconds, not the length of a big purge.
final class RetentionRunner: @unchecked Sendable {
    let policy: RetentionPolicy
    /// The writer's id generator (continues after the newest stored id).
    var memoryIDs = MemoryID()
    /// Memories in the table (counted at load, then kept up to date by the writer).
    var rowCount = 0
    /// Memories inserted since the last prune.
    var inserted = 0
    private var lastRun = Date.distantPast
    static let chunk = 2_000
    static let interval = 5.0

    init(policy: RetentionPolicy) {
        self.policy = policy
    }

    func isDue() -> Bool {
        guard !policy.keepsEverything else { return false }
        return Date().timeIntervalSince(lastRun) >= Self.interval || inserted >= Self.chunk
    }

    /// Deletes what the policy no longer keeps, a chunk at a time, until nothing is left to
    /// delete or 20 chunks have run (the rest waits for the next round).
    func prune(_ pool: DatabasePool) throws {
        lastRun = Date()
        rowCount += inserted
        inserted = 0
        for _ in 0..<20 {
            var deleted = 0
            try pool.write { db in
                if let maxAge = policy.maxAge {
                    let cutoff = MemoryID.first(at: Date().timeIntervalSince1970 - maxAge)
                    try db.execute(sql: """
                        DELETE FROM memories WHERE id IN (SELECT id FROM memories WHERE id < ? ORDER BY id LIMIT ?)
                        """, arguments: [cutoff, Self.chunk])
                    deleted += db.changesCount
                }
                if let maxRows = policy.maxRows, rowCount - deleted > maxRows {
                    let excess = min(rowCount - deleted - maxRows, Self.chunk)
                    try db.execute(sql: """
                        DELETE FROM memories WHERE id IN (SELECT id FROM memories ORDER BY id LIMIT ?)
                        """, arguments: [excess])
                    deleted += db.changesCount
                }
            }
            rowCount -= deleted
            if deleted < Self.chunk { break }
        }
    }
}
