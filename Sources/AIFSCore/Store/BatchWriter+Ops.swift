import Foundation

/// The ops of every message (``JournalOp``): applied in order, or kept aside for `finish()`.
extension BatchWriter {
    mutating func apply(_ op: JournalOp) throws {
        switch op {
        case .queued(let socket, let id, _, _, _, _, _, _):
            touched.insert(socket)
            queued[MessageKey(socket: socket, id: id)] = op
        case .started(let socket, let id):
            touched.insert(socket)
            started.insert(MessageKey(socket: socket, id: id))
        case .ended(let socket, let id):
            touched.insert(socket)
            let key = MessageKey(socket: socket, id: id)
            started.remove(key)
            // Queued and answered in the same pass: the message never reaches the table.
            if queued.removeValue(forKey: key) == nil {
                try raw.execute("DELETE FROM message WHERE socket = ? AND id = ?", Int64(socket), Int64(id))
            }
        case .transcript(let socket, let time, let bytes):
            touched.insert(socket)
            transcripts[socket, default: (time, [])].bytes += bytes
            transcripts[socket]!.time = time
        case .context(let socket, let role, let content):
            touched.insert(socket)
            try raw.execute("INSERT INTO context (socket, role, content) VALUES (?, ?, ?)", Int64(socket), role, content)
        case .chunk(let socket, let kind, let start, let bytes, let failureAfter):
            touched.insert(socket)
            chunks[StreamKey(socket: socket, kind: kind), default: []].append(Chunk(start: start, bytes: bytes, failureAfter: failureAfter))
        case .cursor(let socket, let kind, let cursor):
            touched.insert(socket)
            let key = StreamKey(socket: socket, kind: kind)
            cursors[key] = max(cursors[key] ?? cursor, cursor)
        case .memory(let time, let socket, let kind, let content, let metadata):
            let id = memoryIDs.next(at: time)
            try raw.execute("INSERT INTO memories (id, time, socket, kind, content, metadata) VALUES (?, ?, ?, ?, ?, ?)",
                            id, time, socket, kind, content, metadata)
            memoriesInserted += 1
        case .saved(let record):
            touched.insert(record.id)
            saves[record.id] = record
        case .trimmed(let socket, let count):
            touched.insert(socket)
            try raw.execute("DELETE FROM context WHERE seq IN (SELECT seq FROM context WHERE socket = ? ORDER BY seq LIMIT ?)",
                            Int64(socket), count)
        case .contextCleared(let socket):
            touched.insert(socket)
            try raw.execute("DELETE FROM context WHERE socket = ?", Int64(socket))
        case .history(let socket, let exchange, let role, let start, let length):
            touched.insert(socket)
            try raw.execute("INSERT INTO history (socket, exchange, role, start, length) VALUES (?, ?, ?, ?, ?)",
                            Int64(socket), Int64(exchange), role, Int64(start), Int64(length))
        case .historyCleared(let socket):
            touched.insert(socket)
            try raw.execute("DELETE FROM history WHERE socket = ?", Int64(socket))
        case .undo(let socket, let call, let path, let previous):
            // Not in snapshots: the socket's version (what a snapshot reuses its state by) stays.
            try raw.execute("""
                INSERT INTO undo (socket, call, path, existed, content) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(socket, call) DO UPDATE SET path = excluded.path, existed = excluded.existed, content = excluded.content
                """, Int64(socket), call, path, previous != nil, previous ?? [])
        case .undoDeleted(let socket, let call):
            try raw.execute("DELETE FROM undo WHERE socket = ? AND call = ?", Int64(socket), call)
        case .queueCleared(let socket):
            touched.insert(socket)
            queued = queued.filter { $0.key.socket != socket }
            started = started.filter { $0.socket != socket }
            try raw.execute("DELETE FROM message WHERE socket = ?", Int64(socket))
        }
    }

    /// Forgets what was kept aside for a socket that is removed.
    mutating func dropPending(socket: SocketID) {
        saves.removeValue(forKey: socket)
        cursors = cursors.filter { $0.key.socket != socket }
        chunks = chunks.filter { $0.key.socket != socket }
        started = started.filter { $0.socket != socket }
        queued = queued.filter { $0.key.socket != socket }
        transcripts.removeValue(forKey: socket)
    }

    /// Writes what the ops kept aside: queued messages, starts, transcript entries, unread
    /// stream chunks, the newest socket records (with their version moved), read cursors (and
    /// the stream chunks they consumed entirely, deleted).
    mutating func flushOps() throws {
        for op in queued.values {
            guard case .queued(let socket, let id, let content, let high, let recipients, let uid, let time, let route) = op else { continue }
            try raw.execute("""
                INSERT OR REPLACE INTO message (socket, id, content, priority_high, recipients, uid, time, route)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, Int64(socket), Int64(id), content, high, recipients, Int64(uid), time, route)
        }
        for key in started {
            try raw.execute("UPDATE message SET started = 1 WHERE socket = ? AND id = ?", Int64(key.socket), Int64(key.id))
        }
        for (socket, entry) in transcripts {
            try raw.execute("INSERT INTO transcript (socket, time, bytes) VALUES (?, ?, ?)", Int64(socket), entry.time, entry.bytes)
        }
        for (key, list) in chunks {
            for chunk in list where !chunk.isConsumed(by: cursors[key]) {
                try raw.execute("INSERT INTO stream_chunk (socket, kind, start, bytes, failure_after) VALUES (?, ?, ?, ?, ?)",
                                Int64(key.socket), key.kind.rawValue, chunk.start, chunk.bytes, chunk.failureAfter)
            }
        }
        for r in saves.values {
            try raw.execute("""
                UPDATE socket SET name = ?, model = ?, life = ?, headers = ?, settings = ?, prompt = ?, created = ?,
                    last_activity = ?, uid = ?, gid = ?, mode = ?, messages = ?, tokens_in = ?, tokens_out = ?,
                    next_message_id = ?, wire = ?, version = version + 1
                WHERE id = ?
                """, r.name, r.model, r.life, r.headers, r.settings, r.prompt, r.created, r.lastActivity,
                Int64(r.uid), Int64(r.gid), Int64(r.mode), r.messages, r.tokensIn, r.tokensOut, Int64(r.nextMessageID), r.wire,
                Int64(r.id))
            touched.remove(r.id)  // its version moved with the record
        }
        for (key, cursor) in cursors {
            let socket = Int64(key.socket)
            guard try raw.exists("SELECT 1 FROM socket WHERE id = ?", socket) else { continue }
            try raw.execute("""
                INSERT INTO stream_cursor (socket, kind, position, past_mark) VALUES (?, ?, ?, ?)
                ON CONFLICT(socket, kind) DO UPDATE SET position = excluded.position, past_mark = excluded.past_mark
                WHERE excluded.position > position OR (excluded.position = position AND excluded.past_mark > past_mark)
                """, socket, key.kind.rawValue, cursor.position, cursor.pastMark)
            try raw.execute("""
                DELETE FROM stream_chunk WHERE socket = ? AND kind = ?
                    AND (start + length(bytes) < ? OR (start + length(bytes) = ? AND (failure_after = 0 OR ?)))
                """, socket, key.kind.rawValue, cursor.position, cursor.position, cursor.pastMark)
        }
        queued = [:]
        started = []
        transcripts = [:]
        chunks = [:]
        saves = [:]
        cursors = [:]
    }
}
