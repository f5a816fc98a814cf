import Foundation
import GRDB

/// Keeps the FTS5 index of memories a little behind the committed rows, so that the index is
/// not written inside an acknowledged commit.
///
/// A memory is a plain row of `memories`, committed with the message or reply it belongs to.
/// The index is written later, from a recorded position: `meta.memory_indexed` is the newest
/// memory id in the index, and every row past it is indexed in bulk, in one transaction that
/// also moves the position. Indexing a row alone cost about 85 µs in a commit (the row's FTS5
/// insert, then a new index segment flushed at commit); 256 rows at once cost about 6 µs each.
///
/// When: once the writer has been idle for ``delay`` (`[memory] index_delay`), whenever
/// ``chunk`` rows are waiting, and always before a search runs (``SQLiteStore/search``), so a
/// search sees everything committed before it. A crash between a commit and its indexing loses
/// nothing: the rows are committed, the position is not, and the next start indexes them.
/// Writer thread only.
final class MemoryIndexer {
    /// Rows indexed per transaction when catching up in the background.
    static let chunk = 256
    static let positionKey = "memory_indexed"
    /// Seconds of idle before the waiting rows are indexed.
    let delay: Double
    /// The newest memory id in the index.
    private(set) var position: Int64 = 0
    /// Committed memories past ``position`` (not yet searchable without a catch-up).
    private(set) var backlog = 0

    init(delay: Double) {
        self.delay = delay
    }

    var isBehind: Bool { backlog > 0 }
    var isFull: Bool { backlog >= Self.chunk }

    /// Reads the position and counts what a crash left unindexed.
    func load(_ db: Database) throws {
        position = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.positionKey]) ?? 0
        backlog = try Int.fetchOne(db, sql: "SELECT count(*) FROM memories WHERE id > ?", arguments: [position]) ?? 0
    }

    /// `count` memories were committed.
    func committed(_ count: Int) {
        backlog += count
    }

    /// A step of indexing to apply once its transaction commits.
    struct Step {
        var position: Int64
        var count: Int
    }

    /// Indexes up to `limit` rows past the position (all of them if nil), inside the caller's
    /// transaction; nil if there was nothing to index. Call ``advanced(_:)`` after the commit.
    func index(_ db: Database, limit: Int?) throws -> Step? {
        let limit = limit ?? Int.max
        guard let row = try Row.fetchOne(db, sql: """
            SELECT count(*), max(id) FROM (SELECT id FROM memories WHERE id > ? ORDER BY id LIMIT ?)
            """, arguments: [position, limit]),
            let newest: Int64 = row[1] else {
            backlog = 0  // rows deleted before they were indexed (retention) were counted
            return nil
        }
        try db.execute(sql: "INSERT INTO memories_fts(rowid, content) SELECT id, content FROM memories WHERE id > ? AND id <= ?",
                       arguments: [position, newest])
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = ?", arguments: [newest, Self.positionKey])
        return Step(position: newest, count: row[0])
    }

    /// The step's transaction committed.
    func advanced(_ step: Step) {
        position = step.position
        backlog = max(0, backlog - step.count)
    }
}
