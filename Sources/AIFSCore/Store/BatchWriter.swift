import Foundation
import GRDB

/// Applies events and journal ops inside one transaction.
///
/// The events every message makes arrive as ``JournalOp``s (from the ``Journal``, or converted
/// here); the rest is applied as it comes, in order. Ops are applied in order too, except those
/// that describe a latest state or can be decided at the end, kept aside and written once at
/// ``finish()``: a socket's record (the newest), a read cursor (the furthest), a request's
/// start (skipped if it also ended), a queued message (skipped if it was also answered), a
/// stream chunk (skipped if readers consumed it, as they usually have), and a socket's
/// transcript entries (one row). All are safe to delay: nothing reads them before `finish()`
/// (a snapshot finishes first), a removed socket's or cleared queue's delayed writes are
/// dropped, and cursors only move forward.
///
/// Ops run on ``WriterStatements`` (the raw SQLite API); rarer events (a new socket, the team
/// chat, snapshots) on GRDB. The ops are in `BatchWriter+Ops.swift`, the column formats in
/// `StoreValues.swift`.
struct BatchWriter {
    let db: Database
    let raw: WriterStatements
    var memoryIDs: MemoryID
    /// When the batch is written (the time of transcript rows made from events).
    let now = WallClock.now()
    var memoriesInserted = 0
    // What ops keep for `finish()` (internal for BatchWriter+Ops.swift).
    var saves: [SocketID: StoredSocket] = [:]
    var cursors: [StreamKey: StreamCursor] = [:]
    var started: Set<MessageKey> = []
    var queued: [MessageKey: JournalOp] = [:]
    var chunks: [StreamKey: [Chunk]] = [:]
    var transcripts: [SocketID: (time: Double, bytes: [UInt8])] = [:]
    /// Sockets this batch changed: their `version` moves at `finish()` (see SnapshotStore).
    var touched: Set<SocketID> = []
    private var team: TeamSettings?
    private var clusterPosition: String?
    private var teamCursors: [StreamKind: Int] = [:]

    struct StreamKey: Hashable {
        var socket: SocketID
        var kind: StreamKind
    }
    struct MessageKey: Hashable {
        var socket: SocketID
        var id: UInt64
    }
    struct Chunk {
        var start: Int
        var bytes: [UInt8]
        var failureAfter: Bool

        /// Readers have consumed it entirely (the condition of the `DELETE` in ``finish()``).
        func isConsumed(by cursor: StreamCursor?) -> Bool {
            guard let cursor else { return false }
            let end = start + bytes.count
            return end < cursor.position || (end == cursor.position && (!failureAfter || cursor.pastMark))
        }
    }

    init(db: Database, raw: WriterStatements, memoryIDs: MemoryID) {
        self.db = db
        self.raw = raw
        self.memoryIDs = memoryIDs
    }

    mutating func apply(_ events: [StoreEvent]) throws {
        for event in events { try apply(event) }
    }

    private mutating func apply(_ event: StoreEvent) throws {
        if let ops = JournalOp.ops(event, now: now) {
            for op in ops { try apply(op) }
            return
        }
        if let socket = event.socket { touched.insert(socket) }
        switch event {
        case .socketCreated(let record):
            try execute("""
                INSERT OR REPLACE INTO socket (id, name, model, life, headers, settings, prompt, created, last_activity,
                    uid, gid, mode, messages, tokens_in, tokens_out, next_message_id, wire)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, Self.arguments(record))
            try execute("""
                INSERT INTO meta (key, value) VALUES ('next_socket_id', ?)
                ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)
                """, [Int64(record.id) + 1])
        case .socketRemoved(let id):
            dropPending(socket: id)
            try execute("DELETE FROM socket WHERE id = ?", [Int64(id)])
        case .teamSaved(let settings):
            team = settings
        case .teamStreamAppended(let kind, let start, let bytes):
            guard !bytes.isEmpty else { return }
            try execute("INSERT INTO team_chunk (kind, start, bytes) VALUES (?, ?, ?)", [kind.rawValue, start, Data(bytes)])
        case .teamStreamRead(let kind, let position):
            teamCursors[kind] = max(teamCursors[kind] ?? position, position)
        case .snapshotTaken(let ticket):
            try finish()  // everything recorded before it, written out
            do {
                let (info, pruned) = try SnapshotStore(db: db).take(ticket)
                ticket.finish(.success(info), pruned: pruned)
            } catch let failure as SnapshotFailure {
                ticket.finish(.failure(failure), pruned: [])
            }
        case .snapshotDeleted(let name):
            _ = try SnapshotStore(db: db).delete(name: name)
        case .clusterPosition(let position):
            clusterPosition = position
        case .snapshotRestored(let ticket):
            try finish()
            do {
                ticket.finish(.success(try SnapshotStore(db: db).restore(ticket, now: WallClock.now())))
            } catch let failure as SnapshotFailure {
                ticket.finish(.failure(failure))
            }
        case .messageQueued, .requestStarted, .requestEnded, .transcriptAppended, .contextAppended, .streamAppended,
             .streamRead, .memory, .socketSaved, .contextTrimmed, .contextCleared, .queueCleared, .historyAppended, .historyCleared,
             .undoSaved:
            break  // ops, above
        }
    }

    /// Writes what was kept aside (see ``flushOps()``), the team chat's settings and cursors,
    /// and moves the version of every socket the batch changed.
    mutating func finish() throws {
        try flushOps()
        if let team {
            for (key, value) in team.stored {
                try execute("INSERT INTO team_setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                            [key, value])
            }
        }
        for (kind, position) in teamCursors {
            try execute("""
                INSERT INTO team_cursor (kind, position) VALUES (?, ?)
                ON CONFLICT(kind) DO UPDATE SET position = max(position, excluded.position)
                """, [kind.rawValue, position])
            try execute("DELETE FROM team_chunk WHERE kind = ? AND start + length(bytes) <= ?", [kind.rawValue, position])
        }
        for socket in touched {
            try raw.execute("UPDATE socket SET version = version + 1 WHERE id = ?", Int64(socket))
        }
        touched = []
        if let clusterPosition {
            try execute("INSERT INTO cluster_meta (key, value) VALUES ('position', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [clusterPosition])
        }
        clusterPosition = nil
        team = nil
        teamCursors = [:]
    }

    func execute(_ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
