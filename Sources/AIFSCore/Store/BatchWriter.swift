import Foundation
import GRDB

/// Applies one batch of events inside one transaction.
///
/// Events are applied in order, except the two that describe a latest state: `socketSaved`
/// (the newest record per socket) and `streamRead` (the furthest cursor per stream) are kept
/// aside and written once, at the end. Both are safe to delay: a save only updates a socket
/// that still exists, and cursors only move forward.
struct BatchWriter {
    let db: Database
    var memoryIDs: MemoryID
    private(set) var memoriesInserted = 0
    private var saves: [SocketID: SocketRecord] = [:]
    private var cursors: [StreamKey: StreamCursor] = [:]
    private var team: TeamSettings?
    /// Sockets this batch changed: their `version` moves at `finish()` (see SnapshotStore).
    private var touched: Set<SocketID> = []
    private var clusterPosition: String?
    private var teamCursors: [StreamKind: Int] = [:]

    struct StreamKey: Hashable {
        var socket: SocketID
        var kind: StreamKind
    }

    init(db: Database, memoryIDs: MemoryID) {
        self.db = db
        self.memoryIDs = memoryIDs
    }

    mutating func apply(_ events: [StoreEvent]) throws {
        for event in events { try apply(event) }
    }

    private mutating func apply(_ event: StoreEvent) throws {
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
        case .socketSaved(let record):
            saves[record.id] = record
        case .socketRemoved(let id):
            saves.removeValue(forKey: id)
            cursors = cursors.filter { $0.key.socket != id }
            try execute("DELETE FROM socket WHERE id = ?", [Int64(id)])
        case .messageQueued(let socket, let message):
            try execute("""
                INSERT OR REPLACE INTO message (socket, id, content, priority_high, recipients, uid, time, route)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [Int64(socket), Int64(message.id), Data(message.content), message.headers.priorityHigh,
                      Self.json(message.headers.recipients), Int64(message.uid), message.time, message.route.storedForm])
        case .requestStarted(let socket, let messageID):
            try execute("UPDATE message SET started = 1 WHERE socket = ? AND id = ?", [Int64(socket), Int64(messageID)])
        case .requestEnded(let socket, let messageID):
            try execute("DELETE FROM message WHERE socket = ? AND id = ?", [Int64(socket), Int64(messageID)])
        case .queueCleared(let socket):
            try execute("DELETE FROM message WHERE socket = ?", [Int64(socket)])
        case .transcriptAppended(let socket, let bytes):
            try execute("INSERT INTO transcript (socket, time, bytes) VALUES (?, ?, ?)",
                        [Int64(socket), WallClock.now(), Data(bytes)])
        case .contextAppended(let socket, let turns):
            for turn in turns {
                try execute("INSERT INTO context (socket, role, content) VALUES (?, ?, ?)",
                            [Int64(socket), turn.role.rawValue, Data(turn.content)])
            }
        case .contextCleared(let socket):
            try execute("DELETE FROM context WHERE socket = ?", [Int64(socket)])
        case .contextTrimmed(let socket, let count):
            try execute("DELETE FROM context WHERE seq IN (SELECT seq FROM context WHERE socket = ? ORDER BY seq LIMIT ?)",
                        [Int64(socket), count])
        case .streamAppended(let socket, let kind, let start, let bytes, let failureAfter):
            guard !bytes.isEmpty || failureAfter else { return }
            try execute("INSERT INTO stream_chunk (socket, kind, start, bytes, failure_after) VALUES (?, ?, ?, ?, ?)",
                        [Int64(socket), kind.rawValue, start, Data(bytes), failureAfter])
        case .streamRead(let socket, let kind, let cursor):
            let key = StreamKey(socket: socket, kind: kind)
            cursors[key] = max(cursors[key] ?? cursor, cursor)
        case .memory(let entry):
            let id = memoryIDs.next(at: entry.time)
            try execute("INSERT INTO memories (id, time, socket, kind, content, metadata) VALUES (?, ?, ?, ?, ?, ?)",
                        [id, entry.time, entry.socket, entry.kind.rawValue, entry.content, entry.metadataJSON])
            memoriesInserted += 1
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
        }
    }

    /// Writes the newest socket records and stream cursors, and drops stream chunks that
    /// readers have consumed entirely.
    mutating func finish() throws {
        for record in saves.values {
            try execute("""
                UPDATE socket SET name = ?, model = ?, life = ?, headers = ?, settings = ?, prompt = ?, created = ?,
                    last_activity = ?, uid = ?, gid = ?, mode = ?, messages = ?, tokens_in = ?, tokens_out = ?,
                    next_message_id = ?, wire = ?
                WHERE id = ?
                """, StatementArguments(Array(Self.values(record).dropFirst())) + [Int64(record.id)])
        }
        for (key, cursor) in cursors {
            let socket = Int64(key.socket)
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM socket WHERE id = ?", arguments: [socket]) != nil else { continue }
            try execute("""
                INSERT INTO stream_cursor (socket, kind, position, past_mark) VALUES (?, ?, ?, ?)
                ON CONFLICT(socket, kind) DO UPDATE SET position = excluded.position, past_mark = excluded.past_mark
                WHERE excluded.position > position OR (excluded.position = position AND excluded.past_mark > past_mark)
                """, [socket, key.kind.rawValue, cursor.position, cursor.pastMark])
            try execute("""
                DELETE FROM stream_chunk WHERE socket = ? AND kind = ?
                    AND (start + length(bytes) < ? OR (start + length(bytes) = ? AND (failure_after = 0 OR ?)))
                """, [socket, key.kind.rawValue, cursor.position, cursor.position, cursor.pastMark])
        }
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
            try execute("UPDATE socket SET version = version + 1 WHERE id = ?", [Int64(socket)])
        }
        touched = []
        if let clusterPosition {
            try execute("INSERT INTO cluster_meta (key, value) VALUES ('position', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [clusterPosition])
        }
        clusterPosition = nil
        saves = [:]
        cursors = [:]
        team = nil
        teamCursors = [:]
    }

    private func execute(_ sql: String, _ arguments: StatementArguments) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    static func values(_ r: SocketRecord) -> [(any DatabaseValueConvertible)?] {
        var settings: [String: String] = [:]
        for (key, value) in r.settings { settings[key.rawValue] = value }
        return [Int64(r.id), r.name, r.model, r.life.rawValue, r.headers, json(settings), Data(r.prompt), r.created,
                r.lastActivity, Int64(r.uid), Int64(r.gid), Int64(r.mode), r.messages, r.tokensIn, r.tokensOut,
                Int64(r.nextMessageID), r.wire]
    }

    static func arguments(_ r: SocketRecord) -> StatementArguments {
        StatementArguments(values(r))
    }

    static func json(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension StoreEvent {
    /// The socket whose stored state the event changes, if any.
    var socket: SocketID? {
        switch self {
        case .socketCreated(let r), .socketSaved(let r): return r.id
        case .messageQueued(let id, _), .requestStarted(let id, _), .requestEnded(let id, _), .queueCleared(let id),
             .transcriptAppended(let id, _), .contextAppended(let id, _), .contextCleared(let id), .contextTrimmed(let id, _),
             .streamAppended(let id, _, _, _, _), .streamRead(let id, _, _):
            return id
        case .socketRemoved, .memory, .teamSaved, .teamStreamAppended, .teamStreamRead, .snapshotTaken, .snapshotDeleted,
             .snapshotRestored, .clusterPosition:
            return nil
        }
    }
}
