import Foundation
import FuseKit
import GRDB

/// Snapshots in the database.
///
/// **Taking** runs on the writer, inside its transaction, in order with every other event: a
/// snapshot holds exactly what was recorded before it (a reply is recorded whole when it ends,
/// so every transcript in a snapshot ends at a message boundary).
///
/// **Sharing.** Each batch that changes a socket bumps its `version`. A snapshot points at one
/// `socket_state` per socket; a socket whose version has not moved since an earlier snapshot
/// reuses that state, so snapshots of an idle store cost a few rows each. Transcripts are
/// append-only, so a new state keeps the transcript segments of the socket's previous state and
/// adds one segment for what was appended since. Deleting a snapshot collects states and
/// segments no snapshot uses any more.
///
/// **Restoring** also runs on the writer: it rewrites the live tables of the affected sockets
/// from their states (a live transcript is kept and gets a `[restore]` entry), and the daemon
/// then loads those sockets again.
struct SnapshotStore {
    let db: Database

    // MARK: Taking

    func take(_ ticket: SnapshotTicket) throws -> (info: SnapshotInfo, pruned: [Int64]) {
        if try Int.fetchOne(db, sql: "SELECT 1 FROM snapshot WHERE name = ?", arguments: [ticket.name]) != nil {
            throw SnapshotFailure(.EEXIST, "snapshot '\(ticket.name)' exists")
        }
        try db.execute(sql: "INSERT INTO snapshot (name, created, trigger, team, socket) VALUES (?, ?, ?, ?, ?)",
                       arguments: [ticket.name, ticket.created, ticket.trigger.rawValue, BatchWriter.json(ticket.team.stored),
                                   ticket.onlySocket.map { Int64($0) }])
        let id = db.lastInsertedRowID
        var sockets: [SnapshotSocketInfo] = []
        let rows = if let only = ticket.onlySocket {
            try Row.fetchAll(db, sql: "SELECT * FROM socket WHERE id = ?", arguments: [Int64(only)])
        } else {
            try Row.fetchAll(db, sql: "SELECT * FROM socket ORDER BY id")
        }
        for (position, row) in rows.enumerated() {
            let info = try state(for: row)
            try db.execute(sql: "INSERT INTO snapshot_socket (snapshot, position, state) VALUES (?, ?, ?)",
                           arguments: [id, position, info.state])
            sockets.append(info)
        }
        var pruned: [Int64] = []
        if ticket.trigger.isAutomatic {
            // Counted apart: automatic snapshots of everything, and those of one socket, so
            // that rmdirs (anyone's, however many) never push out the last snapshot of everything.
            pruned = try Int64.fetchAll(db, sql: """
                SELECT id FROM snapshot WHERE trigger != 'manual' AND (socket IS NULL) = ?
                ORDER BY created DESC, id DESC LIMIT -1 OFFSET ?
                """, arguments: [ticket.onlySocket == nil, ticket.keepAutomatic])
            for old in pruned { try db.execute(sql: "DELETE FROM snapshot WHERE id = ?", arguments: [old]) }
            if !pruned.isEmpty { try collectGarbage() }
        }
        return (SnapshotInfo(id: id, name: ticket.name, created: ticket.created, trigger: ticket.trigger, sockets: sockets,
                             onlySocket: ticket.onlySocket), pruned)
    }

    /// The stored state of the socket in `row` at its current version, made if none exists.
    private func state(for row: Row) throws -> SnapshotSocketInfo {
        let socket: Int64 = row["id"]
        let version: Int64 = row["version"]
        if let existing = try Row.fetchOne(db, sql: """
            SELECT id, name, length(ctl) AS ctl_size, length(prompt) AS prompt_size, transcript_size, uid, gid, mode
            FROM socket_state WHERE socket = ? AND version = ?
            """, arguments: [socket, version]) {
            return Self.info(existing, socket: socket)
        }
        let snapshot = try StoreLoader(db: db).snapshot(row, tidy: false)
        // The transcript: the previous state's segments, if the rows they cover are still
        // there (a socket removed and restored since has new rows), and one new segment.
        var segments: [Int64] = []
        var lastSeq: Int64 = 0
        if let previous = try Row.fetchOne(db, sql: "SELECT id, last_seq FROM socket_state WHERE socket = ? ORDER BY id DESC LIMIT 1",
                                           arguments: [socket]) {
            let covered: Int64 = previous["last_seq"]
            let stillThere = try Int.fetchOne(db, sql: "SELECT 1 FROM transcript WHERE socket = ? AND seq = ?", arguments: [socket, covered]) != nil
            let intact = covered == 0 || stillThere
            if intact {
                segments = try Int64.fetchAll(db, sql: "SELECT segment FROM state_segment WHERE state = ? ORDER BY position",
                                              arguments: [previous["id"] as Int64])
                lastSeq = covered
            }
        }
        var appended = Data()
        for entry in try Row.fetchAll(db, sql: "SELECT seq, bytes FROM transcript WHERE socket = ? AND seq > ? ORDER BY seq",
                                      arguments: [socket, lastSeq]) {
            appended.append(entry["bytes"] as Data)
            lastSeq = entry["seq"]
        }
        if !appended.isEmpty {
            try db.execute(sql: "INSERT INTO snapshot_segment (bytes) VALUES (?)", arguments: [appended])
            segments.append(db.lastInsertedRowID)
        }
        var transcriptSize = 0
        for segment in segments {
            transcriptSize += try Int.fetchOne(db, sql: "SELECT length(bytes) FROM snapshot_segment WHERE id = ?", arguments: [segment]) ?? 0
        }
        let ctl = SnapshotText.control(snapshot)
        try db.execute(sql: """
            INSERT INTO socket_state (socket, version, name, body, prompt, ctl, last_seq, transcript_size, uid, gid, mode)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [socket, version, snapshot.record.name, Data(SnapshotCodec.encode(snapshot)), Data(snapshot.record.prompt),
                             ctl, lastSeq, transcriptSize, Int64(snapshot.record.uid), Int64(snapshot.record.gid),
                             Int64(snapshot.record.mode)])
        let state = db.lastInsertedRowID
        for (position, segment) in segments.enumerated() {
            try db.execute(sql: "INSERT INTO state_segment (state, position, segment) VALUES (?, ?, ?)",
                           arguments: [state, position, segment])
        }
        return SnapshotSocketInfo(socket: SocketID(socket), name: snapshot.record.name, state: state, ctlSize: ctl.utf8.count,
                                  promptSize: snapshot.record.prompt.count, transcriptSize: transcriptSize,
                                  uid: snapshot.record.uid, gid: snapshot.record.gid, mode: snapshot.record.mode)
    }

    private static func info(_ row: Row, socket: Int64) -> SnapshotSocketInfo {
        SnapshotSocketInfo(socket: SocketID(socket), name: row["name"], state: row["id"], ctlSize: row["ctl_size"],
                           promptSize: row["prompt_size"], transcriptSize: row["transcript_size"],
                           uid: UInt32(truncatingIfNeeded: row["uid"] as Int64), gid: UInt32(truncatingIfNeeded: row["gid"] as Int64),
                           mode: UInt32(truncatingIfNeeded: row["mode"] as Int64))
    }

    // MARK: Deleting

    func delete(name: String) throws -> Int64? {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM snapshot WHERE name = ?", arguments: [name]) else { return nil }
        try db.execute(sql: "DELETE FROM snapshot WHERE id = ?", arguments: [id])
        try collectGarbage()
        return id
    }

    /// Drops states no snapshot points at, and segments no state uses.
    private func collectGarbage() throws {
        try db.execute(sql: "DELETE FROM socket_state WHERE id NOT IN (SELECT state FROM snapshot_socket)")
        try db.execute(sql: "DELETE FROM snapshot_segment WHERE id NOT IN (SELECT segment FROM state_segment)")
    }

    // MARK: Reading

    /// Every snapshot, oldest first, with its sockets.
    func catalog() throws -> [SnapshotInfo] {
        var byID: [Int64: SnapshotInfo] = [:]
        var order: [Int64] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, name, created, trigger, socket FROM snapshot ORDER BY created, id") {
            let id: Int64 = row["id"]
            byID[id] = SnapshotInfo(id: id, name: row["name"], created: row["created"],
                                    trigger: SnapshotTrigger(rawValue: row["trigger"]) ?? .manual, sockets: [],
                                    onlySocket: (row["socket"] as Int64?).map { SocketID($0) })
            order.append(id)
        }
        for row in try Row.fetchAll(db, sql: """
            SELECT ss.snapshot, st.socket, st.id, st.name, length(st.ctl) AS ctl_size, length(st.prompt) AS prompt_size,
                   st.transcript_size, st.uid, st.gid, st.mode
            FROM snapshot_socket ss JOIN socket_state st ON st.id = ss.state ORDER BY ss.snapshot, ss.position
            """) {
            byID[row["snapshot"]]?.sockets.append(Self.info(row, socket: row["socket"]))
        }
        return order.compactMap { byID[$0] }
    }

    /// The bytes of one file of a socket in a snapshot.
    func file(state: Int64, _ file: SnapshotFile) throws -> [UInt8] {
        switch file {
        case .ctl: return Array((try String.fetchOne(db, sql: "SELECT ctl FROM socket_state WHERE id = ?", arguments: [state]) ?? "").utf8)
        case .prompt: return [UInt8](try Data.fetchOne(db, sql: "SELECT prompt FROM socket_state WHERE id = ?", arguments: [state]) ?? Data())
        case .transcript: return try transcript(state: state)
        }
    }

    private func transcript(state: Int64) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for data in try Data.fetchAll(db, sql: """
            SELECT s.bytes FROM state_segment ss JOIN snapshot_segment s ON s.id = ss.segment WHERE ss.state = ? ORDER BY ss.position
            """, arguments: [state]) {
            bytes.append(contentsOf: data)
        }
        return bytes
    }

    /// Bytes used by snapshots: states and segments (for `/ai/ctl` and the closing figures).
    func storageBytes() throws -> Int {
        let states = try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(body) + length(prompt) + length(ctl)), 0) FROM socket_state") ?? 0
        let segments = try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(bytes)), 0) FROM snapshot_segment") ?? 0
        return states + segments
    }

    // MARK: Restoring

    func restore(_ ticket: RestoreTicket, now: Double) throws -> RestoreTicket.Outcome {
        guard let snapshot = try Row.fetchOne(db, sql: "SELECT id, team, created, socket FROM snapshot WHERE name = ?",
                                              arguments: [ticket.snapshot]) else {
            throw SnapshotFailure(.ENOENT, "no snapshot '\(ticket.snapshot)'")
        }
        let states = try Row.fetchAll(db, sql: """
            SELECT st.id, st.socket, st.name FROM snapshot_socket ss JOIN socket_state st ON st.id = ss.state
            WHERE ss.snapshot = ? ORDER BY ss.position
            """, arguments: [snapshot["id"] as Int64])
        let taken = WallClock.iso8601(snapshot["created"])
        switch ticket.scope {
        case .all where (snapshot["socket"] as Int64?) != nil:
            // A snapshot of one socket puts that socket back (under its name, as it was) and
            // leaves every other socket and the team's settings as they are.
            for state in states {
                let name: String = state["name"], socket: Int64 = state["socket"]
                if try Int.fetchOne(db, sql: "SELECT 1 FROM socket WHERE name = ? AND id != ?", arguments: [name, socket]) != nil {
                    throw SnapshotFailure.nameTaken(name)
                }
            }
            for state in states {
                try put(state: state["id"], into: state["socket"], keepIdentity: false, snapshot: ticket.snapshot, taken: taken, now: now)
            }
            return RestoreTicket.Outcome(restored: states.map { SocketID($0["socket"] as Int64) }, removed: [], team: nil)
        case .all:
            let kept = Set(states.map { $0["socket"] as Int64 })
            let removed = try Int64.fetchAll(db, sql: "SELECT id FROM socket ORDER BY id").filter { !kept.contains($0) }
            for id in removed { try db.execute(sql: "DELETE FROM socket WHERE id = ?", arguments: [id]) }
            for state in states {
                try put(state: state["id"], into: state["socket"], keepIdentity: false, snapshot: ticket.snapshot, taken: taken, now: now)
            }
            var stored: [String: String] = [:]
            let json = (try? JSONSerialization.jsonObject(with: Data((snapshot["team"] as String).utf8))) as? [String: String] ?? [:]
            for (key, value) in json { stored[key] = value }
            let team = TeamSettings(stored: stored)
            for (key, value) in team.stored {
                try db.execute(sql: "INSERT INTO team_setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               arguments: [key, value])
            }
            return RestoreTicket.Outcome(restored: states.map { SocketID($0["socket"] as Int64) }, removed: removed.map { SocketID($0) }, team: team)
        case .socket(let id, let name):
            guard let state = states.first(where: { ($0["name"] as String) == name }) else {
                throw SnapshotFailure(.ENOENT, "snapshot '\(ticket.snapshot)' has no socket '\(name)'")
            }
            try put(state: state["id"], into: Int64(id), keepIdentity: true, snapshot: ticket.snapshot, taken: taken, now: now)
            return RestoreTicket.Outcome(restored: [id], removed: [], team: nil)
        }
    }

    /// Rewrites live socket `target` from a stored state. With `keepIdentity` (one socket
    /// restored in place) its name and ownership stay as they are now.
    private func put(state: Int64, into target: Int64, keepIdentity: Bool, snapshot: String, taken: String, now: Double) throws {
        guard let body = try Data.fetchOne(db, sql: "SELECT body FROM socket_state WHERE id = ?", arguments: [state]) else {
            throw SnapshotFailure(.EIO, "snapshot state \(state) is missing")
        }
        let saved = try SnapshotCodec.decode([UInt8](body))
        var record = saved.record
        record.id = SocketID(target)
        let live = try Row.fetchOne(db, sql: "SELECT * FROM socket WHERE id = ?", arguments: [target])
        let version = (try Int64.fetchOne(db, sql: "SELECT max(version) FROM socket_state WHERE socket = ?", arguments: [target]) ?? 0) + 1
        if let live {
            let current = StoreLoader.record(live)
            if keepIdentity {
                record.name = current.name
                record.uid = current.uid
                record.gid = current.gid
                record.mode = current.mode
            }
            record.nextMessageID = max(record.nextMessageID, current.nextMessageID)
            for table in ["context", "history", "message", "stream_chunk", "stream_cursor"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE socket = ?", arguments: [target])
            }
            try db.execute(sql: """
                UPDATE socket SET name = ?, model = ?, life = ?, headers = ?, settings = ?, prompt = ?, created = ?,
                    last_activity = ?, uid = ?, gid = ?, mode = ?, messages = ?, tokens_in = ?, tokens_out = ?,
                    next_message_id = ?, wire = ?, version = max(version + 1, ?)
                WHERE id = ?
                """, arguments: StatementArguments(Array(BatchWriter.values(record).dropFirst())) + [version, target])
        } else {
            try db.execute(sql: """
                INSERT INTO socket (id, name, model, life, headers, settings, prompt, created, last_activity,
                    uid, gid, mode, messages, tokens_in, tokens_out, next_message_id, wire, version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: BatchWriter.arguments(record) + [version])
            let transcript = try self.transcript(state: state)
            if !transcript.isEmpty {
                try db.execute(sql: "INSERT INTO transcript (socket, time, bytes) VALUES (?, ?, ?)", arguments: [target, now, Data(transcript)])
            }
        }
        for turn in saved.context {
            try db.execute(sql: "INSERT INTO context (socket, role, content) VALUES (?, ?, ?)",
                           arguments: [target, turn.role.rawValue, Data(turn.content)])
        }
        // The history's places are in the transcript the snapshot was taken of: put back whole (a
        // deleted socket), or kept in place if its rows are still there. Another transcript (a
        // socket made since under the name, or removed and restored since) has other bytes
        // there: then no history, and the socket starts it again from its context when loaded.
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT last_seq FROM socket_state WHERE id = ?", arguments: [state]) ?? 0
        let rowsKept = try Int.fetchOne(db, sql: "SELECT 1 FROM transcript WHERE socket = ? AND seq = ?", arguments: [target, lastSeq]) != nil
        let intact = live == nil || lastSeq == 0 || rowsKept
        if saved.record.id == SocketID(target), intact {
            for entry in saved.history {
                try db.execute(sql: "INSERT INTO history (socket, exchange, role, start, length) VALUES (?, ?, ?, ?, ?)",
                               arguments: [target, entry.exchange, entry.role.rawValue, entry.start, entry.length])
            }
        }
        for message in saved.queue {
            try db.execute(sql: """
                INSERT INTO message (socket, id, content, priority_high, recipients, uid, time, route, started)
                VALUES (?, ?, ?, ?, '[]', ?, ?, ?, ?)
                """, arguments: [target, Int64(message.id), Data(message.content), message.headers.priorityHigh, Int64(message.uid),
                                 message.time, message.route.storedForm, message.id == saved.interrupted])
        }
        let loader = StoreLoader(db: db)
        try loader.writeStream(socket: target, kind: .output, saved.output)
        try loader.writeStream(socket: target, kind: .error, saved.errors)
        let entry = Array("[restore] \(WallClock.iso8601(now)) snapshot=\(snapshot)\nrestored from snapshot \(snapshot) (taken \(taken))\n".utf8)
        try db.execute(sql: "INSERT INTO transcript (socket, time, bytes) VALUES (?, ?, ?)", arguments: [target, now, Data(entry)])
    }
}

/// The generated text of a socket's `ctl` inside a snapshot (the live `ctl` keys that mean
/// something at rest).
enum SnapshotText {
    static func control(_ s: SocketSnapshot) -> String {
        let r = s.record
        return SocketInfo(id: r.id, name: r.name, model: r.model, state: r.life, headers: r.headers, settings: r.settings,
                          created: r.created, lastActivity: r.lastActivity, queued: s.queue.count, inFlight: false,
                          unreadBytes: s.output.bytes.count, messages: r.messages, tokensIn: r.tokensIn, tokensOut: r.tokensOut,
                          uid: r.uid, gid: r.gid, mode: r.mode, promptSize: r.prompt.count, transcriptSize: 0,
                          transcriptModified: r.created, wire: r.wire.isEmpty ? nil : r.wire).controlText(live: false)
    }
}
