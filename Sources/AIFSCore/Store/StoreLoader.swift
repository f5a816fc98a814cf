import Foundation
import GRDB

/// Reads every socket back at mount, inside one write transaction that also tidies the
/// streams: each socket's unread `output` and `error` are rewritten to start at position 0, the
/// positions the restored socket counts from.
struct StoreLoader {
    let db: Database

    func load() throws -> StoreContents {
        var contents = StoreContents()
        let maxID = try Int64.fetchOne(db, sql: "SELECT max(id) FROM socket") ?? 0
        let next = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'next_socket_id'") ?? 0
        contents.nextSocketID = max(SocketID(max(next, maxID + 1)), InodeScheme.firstSocketID)
        for row in try Row.fetchAll(db, sql: "SELECT * FROM socket ORDER BY id") {
            contents.sockets.append(try snapshot(row, tidy: true))
        }
        contents.team = try team()
        contents.clusterPosition = try String.fetchOne(db, sql: "SELECT value FROM cluster_meta WHERE key = 'position'") ?? "0-0"
        return contents
    }

    /// One socket as it stands. With `tidy`, its streams are rewritten in the database to start
    /// at position 0 (at mount, and when a restored socket is brought back); without it nothing
    /// is written and neither the transcript (a snapshot keeps it apart) nor the undo records
    /// (a snapshot does not keep them) are read.
    func snapshot(_ row: Row, tidy: Bool) throws -> SocketSnapshot {
        let record = Self.record(row)
        let id = Int64(record.id)
        var snapshot = SocketSnapshot(record: record)
        snapshot.context = try Row.fetchAll(db, sql: "SELECT role, content FROM context WHERE socket = ? ORDER BY seq",
                                            arguments: [id]).map { row in
            Turn(role: Turn.Role(rawValue: row["role"]) ?? .user, content: [UInt8](row["content"] as Data))
        }
        snapshot.history = try Row.fetchAll(db, sql: "SELECT exchange, role, start, length FROM history WHERE socket = ? ORDER BY seq",
                                            arguments: [id]).map { row in
            HistoryEntry(exchange: row["exchange"], role: Turn.Role(rawValue: row["role"]) ?? .user, start: row["start"], length: row["length"])
        }
        var started: [InputMessage] = []
        var urgent: [InputMessage] = []
        var normal: [InputMessage] = []
        for row in try Row.fetchAll(db, sql: "SELECT * FROM message WHERE socket = ? ORDER BY id", arguments: [id]) {
            let recipients = (try? JSONSerialization.jsonObject(with: Data((row["recipients"] as String).utf8))) as? [String] ?? []
            let message = InputMessage(id: UInt64(row["id"] as Int64), content: [UInt8](row["content"] as Data),
                                       headers: MessageHeaders(priorityHigh: row["priority_high"], recipients: recipients),
                                       uid: UInt32(truncatingIfNeeded: row["uid"] as Int64), time: row["time"],
                                       route: ReplyRoute.fromStored(row["route"]))
            if row["started"] as Bool {
                started.append(message)
            } else if message.headers.priorityHigh {
                urgent.append(message)
            } else {
                normal.append(message)
            }
        }
        snapshot.queue = started + urgent + normal
        snapshot.interrupted = started.first?.id
        guard tidy else {
            snapshot.output = try unreadStream(socket: id, kind: .output)
            snapshot.errors = try unreadStream(socket: id, kind: .error)
            return snapshot
        }
        var transcript: [UInt8] = []
        var modified = record.created
        for row in try Row.fetchAll(db, sql: "SELECT time, bytes FROM transcript WHERE socket = ? ORDER BY seq", arguments: [id]) {
            transcript.append(contentsOf: row["bytes"] as Data)
            modified = max(modified, row["time"])
        }
        snapshot.transcript = transcript
        snapshot.transcriptModified = modified
        snapshot.undoRecords = try undoRecords(socket: id)
        snapshot.output = try restoreStream(socket: id, kind: .output)
        snapshot.errors = try restoreStream(socket: id, kind: .error)
        return snapshot
    }

    /// The socket's undo records by call id (not read for a snapshot: they are not in one).
    private func undoRecords(socket: Int64) throws -> [String: UndoRecord] {
        var records: [String: UndoRecord] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT call, path, existed, content FROM undo WHERE socket = ?", arguments: [socket]) {
            let content = [UInt8](row["content"] as Data? ?? Data())
            records[row["call"]] = UndoRecord(path: row["path"], previous: row["existed"] as Bool ? content : nil)
        }
        return records
    }

    /// The unread part of a stream, rewritten in the database to start at position 0.
    private func restoreStream(socket: Int64, kind: StreamKind) throws -> RestoredStream {
        let restored = try unreadStream(socket: socket, kind: kind)
        try db.execute(sql: "DELETE FROM stream_chunk WHERE socket = ? AND kind = ?", arguments: [socket, kind.rawValue])
        try db.execute(sql: "DELETE FROM stream_cursor WHERE socket = ? AND kind = ?", arguments: [socket, kind.rawValue])
        try writeStream(socket: socket, kind: kind, restored)
        return restored
    }

    /// Writes a stream's unread part as chunks from position 0 (no cursor): one chunk per run of
    /// bytes ending at a failure mark, then the rest.
    func writeStream(socket: Int64, kind: StreamKind, _ restored: RestoredStream) throws {
        var position = 0
        for mark in restored.failureMarks {
            try insertChunk(socket, kind, start: position, bytes: Array(restored.bytes[position..<mark]), failureAfter: true)
            position = mark
        }
        if position < restored.bytes.count {
            try insertChunk(socket, kind, start: position, bytes: Array(restored.bytes[position...]), failureAfter: false)
        }
    }

    /// What readers have not consumed of a stream (read only).
    private func unreadStream(socket: Int64, kind: StreamKind) throws -> RestoredStream {
        let cursorRow = try Row.fetchOne(db, sql: "SELECT position, past_mark FROM stream_cursor WHERE socket = ? AND kind = ?",
                                         arguments: [socket, kind.rawValue])
        let cursor = StreamCursor(position: cursorRow?["position"] ?? 0, pastMark: cursorRow?["past_mark"] ?? false)
        let chunks = try Row.fetchAll(db, sql: """
            SELECT start, bytes, failure_after FROM stream_chunk WHERE socket = ? AND kind = ? ORDER BY start, seq
            """, arguments: [socket, kind.rawValue]).map { row in
            StreamChunk(start: row["start"], bytes: [UInt8](row["bytes"] as Data), failureAfter: row["failure_after"])
        }
        return StreamChunk.unread(chunks, cursor: cursor)
    }

    /// The team chat's settings and unread streams (rewritten to start at position 0).
    private func team() throws -> TeamSnapshot {
        var team = TeamSnapshot()
        var stored: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM team_setting") { stored[row["key"]] = row["value"] }
        team.settings = TeamSettings(stored: stored)
        for kind in [StreamKind.output, .error] {
            let position = try Int.fetchOne(db, sql: "SELECT position FROM team_cursor WHERE kind = ?", arguments: [kind.rawValue]) ?? 0
            let chunks = try Row.fetchAll(db, sql: "SELECT start, bytes FROM team_chunk WHERE kind = ? ORDER BY start, seq",
                                          arguments: [kind.rawValue]).map { row in
                StreamChunk(start: row["start"], bytes: [UInt8](row["bytes"] as Data), failureAfter: false)
            }
            let restored = StreamChunk.unread(chunks, cursor: StreamCursor(position: position, pastMark: true))
            try db.execute(sql: "DELETE FROM team_chunk WHERE kind = ?", arguments: [kind.rawValue])
            try db.execute(sql: "DELETE FROM team_cursor WHERE kind = ?", arguments: [kind.rawValue])
            if !restored.bytes.isEmpty {
                try db.execute(sql: "INSERT INTO team_chunk (kind, start, bytes) VALUES (?, 0, ?)",
                               arguments: [kind.rawValue, Data(restored.bytes)])
            }
            if kind == .output { team.output = restored } else { team.errors = restored }
        }
        return team
    }

    private func insertChunk(_ socket: Int64, _ kind: StreamKind, start: Int, bytes: [UInt8], failureAfter: Bool) throws {
        try db.execute(sql: "INSERT INTO stream_chunk (socket, kind, start, bytes, failure_after) VALUES (?, ?, ?, ?, ?)",
                       arguments: [socket, kind.rawValue, start, Data(bytes), failureAfter])
    }

    static func record(_ row: Row) -> SocketRecord {
        var settings: [Setting: String] = [:]
        let json = (try? JSONSerialization.jsonObject(with: Data((row["settings"] as String).utf8))) as? [String: String] ?? [:]
        for (key, value) in json {
            if let setting = Setting(rawValue: key) { settings[setting] = value }
        }
        return SocketRecord(id: SocketID(row["id"] as Int64), name: row["name"], model: row["model"],
                            life: SocketState(rawValue: row["life"]) ?? .active, headers: row["headers"],
                            settings: settings, prompt: [UInt8](row["prompt"] as Data), created: row["created"],
                            lastActivity: row["last_activity"], uid: UInt32(truncatingIfNeeded: row["uid"] as Int64),
                            gid: UInt32(truncatingIfNeeded: row["gid"] as Int64), mode: UInt32(truncatingIfNeeded: row["mode"] as Int64),
                            messages: row["messages"], tokensIn: row["tokens_in"], tokensOut: row["tokens_out"],
                            nextMessageID: UInt64(row["next_message_id"] as Int64), wire: row["wire"])
    }
}

/// A stored piece of a stream, at an absolute position.
struct StreamChunk: Equatable {
    var start: Int
    var bytes: [UInt8]
    var failureAfter: Bool

    /// What readers have not consumed yet, as one run of bytes from position 0 with the
    /// failure marks that still stand. Gaps between chunks (a reply cut by a crash, never
    /// stored) are skipped.
    static func unread(_ chunks: [StreamChunk], cursor: StreamCursor) -> RestoredStream {
        var result = RestoredStream()
        for chunk in chunks {
            let end = chunk.start + chunk.bytes.count
            if end > cursor.position {
                let from = max(0, cursor.position - chunk.start)
                result.bytes.append(contentsOf: chunk.bytes[from...])
            }
            if chunk.failureAfter, end > cursor.position || (end == cursor.position && !cursor.pastMark) {
                result.failureMarks.append(result.bytes.count)
            }
        }
        return result
    }
}
