import Foundation
import GRDB
import Logging

/// What makes a commit cheap: a batch of the events every message makes is committed as one
/// row of `journal` (its ``JournalOp``s, encoded), and written into the tables later, many
/// batches at once.
///
/// A message's acknowledged commit then writes one row, not a dozen (the message, its
/// transcript entry, the socket's record, its memory, and the previous reply's start, end,
/// context, transcript, stream chunk and read cursor). Applied in bulk, much of it never
/// reaches the tables at all: a message queued and answered in the same pass is neither
/// inserted nor deleted, a reply's chunk that was read is not stored, a socket's record is
/// written once, transcript entries of a socket become one row.
///
/// Applied: once the writer has been idle for ``delay`` (`[store] journal_delay`), whenever
/// ``chunk`` rows are waiting, before any event that has no op (a new or removed socket, a
/// snapshot, a search…) so that order is kept, and at load, before anything is read. A row
/// is applied and deleted in one transaction: a crash between a commit and its application
/// loses nothing, and the next start applies it. Writer thread only.
final class Journal {
    /// Rows applied in one pass while messages keep coming.
    static let chunk = 32
    /// Seconds of idle before waiting rows are applied.
    let delay: Double
    /// Rows in `journal`.
    private(set) var backlog = 0
    private let logger = Logger(label: "aifs.store")

    init(delay: Double) {
        self.delay = delay
    }

    var isBehind: Bool { backlog > 0 }
    var isFull: Bool { backlog >= Self.chunk }

    func load(_ db: Database) throws {
        backlog = try Int.fetchOne(db, sql: "SELECT count(*) FROM journal") ?? 0
    }

    /// Appends a row inside the caller's transaction; call ``appended()`` after the commit.
    func append(_ ops: [JournalOp], _ raw: WriterStatements) throws {
        try raw.execute("INSERT INTO journal (ops) VALUES (?)", JournalCodec.encode(ops))
    }

    func appended() {
        backlog += 1
    }

    /// Applies every waiting row through `writer` and deletes them, inside the caller's
    /// transaction (the caller calls `writer.finish()`); returns how many. A row that cannot be
    /// decoded (it would be a bug) is logged and dropped. Call ``applied(_:)`` after the commit.
    func apply(_ db: Database, _ writer: inout BatchWriter) throws -> Int {
        guard backlog > 0 else { return 0 }
        var last: Int64?
        var count = 0
        for row in try Row.fetchAll(db, sql: "SELECT seq, ops FROM journal ORDER BY seq") {
            last = row[0]
            count += 1
            let bytes: Data = row[1]
            do {
                for op in try JournalCodec.decode(Array(bytes)) { try writer.apply(op) }
            } catch let corrupt as JournalCodec.Corrupt {
                logger.error("store: journal row \(row[0] as Int64) cannot be read and is dropped: \(corrupt)")
            }
        }
        if let last { try db.execute(sql: "DELETE FROM journal WHERE seq <= ?", arguments: [last]) }
        return count
    }

    func applied(_ count: Int) {
        backlog = max(0, backlog - count)
    }
}

extension EventQueue.Batch {
    /// The batch as journal ops, or nil if an event has none or a group needs the tables
    /// written now (a search).
    func journalOps(now: Double) -> [JournalOp]? {
        var ops: [JournalOp] = []
        for group in groups {
            guard !group.indexesMemories else { return nil }
            for event in group.events {
                guard let more = JournalOp.ops(event, now: now) else { return nil }
                ops += more
            }
        }
        return ops
    }
}
