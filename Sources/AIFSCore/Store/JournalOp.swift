import Foundation

/// One row change of a message's life, as plain values: what ``BatchWriter`` writes into the
/// tables, and what the ``Journal`` keeps until it does.
///
/// Only the events of a socket's messages have an op (queued, started, ended, transcript,
/// context appended, trimmed or cleared, history appended or cleared, queue cleared, a stream chunk, a read cursor, a
/// memory, a socket's record, an undo record saved or deleted). Everything else — a new or removed socket, the team chat,
/// snapshots, the cluster position, a search — is applied directly, after the journal.
enum JournalOp: Equatable {
    case queued(socket: SocketID, id: UInt64, content: [UInt8], priorityHigh: Bool, recipients: String, uid: UInt32,
                time: Double, route: String)
    case started(socket: SocketID, id: UInt64)
    case ended(socket: SocketID, id: UInt64)
    case transcript(socket: SocketID, time: Double, bytes: [UInt8])
    case context(socket: SocketID, role: String, content: [UInt8])
    case chunk(socket: SocketID, kind: StreamKind, start: Int, bytes: [UInt8], failureAfter: Bool)
    case cursor(socket: SocketID, kind: StreamKind, cursor: StreamCursor)
    case memory(time: Double, socket: String, kind: String, content: String, metadata: String)
    case saved(StoredSocket)
    case trimmed(socket: SocketID, count: Int)
    case contextCleared(socket: SocketID)
    case queueCleared(socket: SocketID)
    case history(socket: SocketID, exchange: Int, role: String, start: Int, length: Int)
    case historyCleared(socket: SocketID)
    /// An undo record saved (replacing one of the same call); `previous` nil: no file existed.
    case undo(socket: SocketID, call: String, path: String, previous: [UInt8]?)
    /// An undo record deleted (undone).
    case undoDeleted(socket: SocketID, call: String)

    /// The ops of an event, or nil if it has none (it is applied directly).
    static func ops(_ event: StoreEvent, now: Double) -> [JournalOp]? {
        switch event {
        case .messageQueued(let socket, let m):
            return [.queued(socket: socket, id: m.id, content: m.content, priorityHigh: m.headers.priorityHigh,
                            recipients: BatchWriter.jsonArray(m.headers.recipients), uid: m.uid, time: m.time,
                            route: m.route.storedForm)]
        case .requestStarted(let socket, let id): return [.started(socket: socket, id: id)]
        case .requestEnded(let socket, let id): return [.ended(socket: socket, id: id)]
        case .transcriptAppended(let socket, let bytes): return [.transcript(socket: socket, time: now, bytes: bytes)]
        case .contextAppended(let socket, let turns):
            return turns.map { .context(socket: socket, role: $0.role.rawValue, content: $0.content) }
        case .streamAppended(let socket, let kind, let start, let bytes, let failureAfter):
            guard !bytes.isEmpty || failureAfter else { return [] }
            return [.chunk(socket: socket, kind: kind, start: start, bytes: bytes, failureAfter: failureAfter)]
        case .streamRead(let socket, let kind, let cursor): return [.cursor(socket: socket, kind: kind, cursor: cursor)]
        case .memory(let e):
            return [.memory(time: e.time, socket: e.socket, kind: e.kind.rawValue, content: e.content, metadata: e.metadataJSON)]
        case .socketSaved(let record): return [.saved(StoredSocket(record))]
        case .contextTrimmed(let socket, let count): return [.trimmed(socket: socket, count: count)]
        case .contextCleared(let socket): return [.contextCleared(socket: socket)]
        case .queueCleared(let socket): return [.queueCleared(socket: socket)]
        case .historyAppended(let socket, let entries):
            return entries.map { .history(socket: socket, exchange: $0.exchange, role: $0.role.rawValue, start: $0.start, length: $0.length) }
        case .historyCleared(let socket): return [.historyCleared(socket: socket)]
        case .undoSaved(let socket, let call, let record?):
            return [.undo(socket: socket, call: call, path: record.path, previous: record.previous)]
        case .undoSaved(let socket, let call, nil): return [.undoDeleted(socket: socket, call: call)]
        case .socketCreated, .socketRemoved, .teamSaved,
             .teamStreamAppended, .teamStreamRead, .snapshotTaken, .snapshotDeleted, .snapshotRestored, .clusterPosition:
            return nil
        }
    }
}

/// A socket's record as the `socket` table holds it.
struct StoredSocket: Equatable {
    var id: SocketID
    var name, model, life: String
    var headers: Bool
    var settings: String
    var prompt: [UInt8]
    var created, lastActivity: Double
    var uid, gid, mode: UInt32
    var messages, tokensIn, tokensOut: Int
    var nextMessageID: UInt64
    var wire: String

    init(_ r: SocketRecord) {
        self.init(id: r.id, name: r.name, model: r.model, life: r.life.rawValue, headers: r.headers,
                  settings: BatchWriter.settingsJSON(r), prompt: r.prompt, created: r.created, lastActivity: r.lastActivity,
                  uid: r.uid, gid: r.gid, mode: r.mode, messages: r.messages, tokensIn: r.tokensIn, tokensOut: r.tokensOut,
                  nextMessageID: r.nextMessageID, wire: r.wire)
    }

    init(id: SocketID, name: String, model: String, life: String, headers: Bool, settings: String, prompt: [UInt8],
         created: Double, lastActivity: Double, uid: UInt32, gid: UInt32, mode: UInt32, messages: Int, tokensIn: Int,
         tokensOut: Int, nextMessageID: UInt64, wire: String) {
        (self.id, self.name, self.model, self.life, self.headers, self.settings, self.prompt) =
            (id, name, model, life, headers, settings, prompt)
        (self.created, self.lastActivity, self.uid, self.gid, self.mode) = (created, lastActivity, uid, gid, mode)
        (self.messages, self.tokensIn, self.tokensOut, self.nextMessageID, self.wire) =
            (messages, tokensIn, tokensOut, nextMessageID, wire)
    }
}

/// The journal's byte format: ops one after another, each a tag byte and its fields; integers
/// and doubles as 8 little-endian bytes, byte strings as a 4-byte length and the bytes.
enum JournalCodec {
    struct Corrupt: Error, CustomStringConvertible {
        var description: String
    }

    static func encode(_ ops: [JournalOp]) -> [UInt8] {
        var w = Writer()
        for op in ops {
            switch op {
            case .queued(let socket, let id, let content, let high, let recipients, let uid, let time, let route):
                w.tag(1); w.int(socket); w.int(id); w.bytes(content); w.bool(high); w.text(recipients); w.int(UInt64(uid))
                w.double(time); w.text(route)
            case .started(let socket, let id): w.tag(2); w.int(socket); w.int(id)
            case .ended(let socket, let id): w.tag(3); w.int(socket); w.int(id)
            case .transcript(let socket, let time, let bytes): w.tag(4); w.int(socket); w.double(time); w.bytes(bytes)
            case .context(let socket, let role, let content): w.tag(5); w.int(socket); w.text(role); w.bytes(content)
            case .chunk(let socket, let kind, let start, let bytes, let failureAfter):
                w.tag(6); w.int(socket); w.text(kind.rawValue); w.int(UInt64(start)); w.bytes(bytes); w.bool(failureAfter)
            case .cursor(let socket, let kind, let cursor):
                w.tag(7); w.int(socket); w.text(kind.rawValue); w.int(UInt64(cursor.position)); w.bool(cursor.pastMark)
            case .memory(let time, let socket, let kind, let content, let metadata):
                w.tag(8); w.double(time); w.text(socket); w.text(kind); w.text(content); w.text(metadata)
            case .saved(let s):
                w.tag(9); w.int(s.id); w.text(s.name); w.text(s.model); w.text(s.life); w.bool(s.headers); w.text(s.settings)
                w.bytes(s.prompt); w.double(s.created); w.double(s.lastActivity); w.int(UInt64(s.uid)); w.int(UInt64(s.gid))
                w.int(UInt64(s.mode)); w.int(UInt64(s.messages)); w.int(UInt64(s.tokensIn)); w.int(UInt64(s.tokensOut))
                w.int(s.nextMessageID); w.text(s.wire)
            case .trimmed(let socket, let count): w.tag(10); w.int(socket); w.int(UInt64(count))
            case .contextCleared(let socket): w.tag(11); w.int(socket)
            case .queueCleared(let socket): w.tag(12); w.int(socket)
            case .history(let socket, let exchange, let role, let start, let length):
                w.tag(13); w.int(socket); w.int(UInt64(exchange)); w.text(role); w.int(UInt64(start)); w.int(UInt64(length))
            case .historyCleared(let socket): w.tag(14); w.int(socket)
            case .undo(let socket, let call, let path, let previous):
                w.tag(15); w.int(socket); w.text(call); w.text(path); w.bool(previous != nil); w.bytes(previous ?? [])
            case .undoDeleted(let socket, let call): w.tag(16); w.int(socket); w.text(call)
            }
        }
        return w.out
    }

    static func decode(_ bytes: [UInt8]) throws(Corrupt) -> [JournalOp] {
        var r = Reader(input: bytes)
        var ops: [JournalOp] = []
        while !r.atEnd {
            switch try r.byte() {
            case 1:
                ops.append(.queued(socket: try r.int(), id: try r.int(), content: try r.bytes(), priorityHigh: try r.bool(),
                                   recipients: try r.text(), uid: UInt32(truncatingIfNeeded: try r.int()), time: try r.double(),
                                   route: try r.text()))
            case 2: ops.append(.started(socket: try r.int(), id: try r.int()))
            case 3: ops.append(.ended(socket: try r.int(), id: try r.int()))
            case 4: ops.append(.transcript(socket: try r.int(), time: try r.double(), bytes: try r.bytes()))
            case 5: ops.append(.context(socket: try r.int(), role: try r.text(), content: try r.bytes()))
            case 6:
                ops.append(.chunk(socket: try r.int(), kind: try r.kind(), start: Int(truncatingIfNeeded: try r.int()),
                                  bytes: try r.bytes(), failureAfter: try r.bool()))
            case 7:
                ops.append(.cursor(socket: try r.int(), kind: try r.kind(),
                                   cursor: StreamCursor(position: Int(truncatingIfNeeded: try r.int()), pastMark: try r.bool())))
            case 8:
                ops.append(.memory(time: try r.double(), socket: try r.text(), kind: try r.text(), content: try r.text(),
                                   metadata: try r.text()))
            case 9:
                ops.append(.saved(StoredSocket(
                    id: try r.int(), name: try r.text(), model: try r.text(), life: try r.text(), headers: try r.bool(),
                    settings: try r.text(), prompt: try r.bytes(), created: try r.double(), lastActivity: try r.double(),
                    uid: UInt32(truncatingIfNeeded: try r.int()), gid: UInt32(truncatingIfNeeded: try r.int()),
                    mode: UInt32(truncatingIfNeeded: try r.int()), messages: Int(truncatingIfNeeded: try r.int()),
                    tokensIn: Int(truncatingIfNeeded: try r.int()), tokensOut: Int(truncatingIfNeeded: try r.int()),
                    nextMessageID: try r.int(), wire: try r.text())))
            case 10: ops.append(.trimmed(socket: try r.int(), count: Int(truncatingIfNeeded: try r.int())))
            case 11: ops.append(.contextCleared(socket: try r.int()))
            case 12: ops.append(.queueCleared(socket: try r.int()))
            case 13:
                ops.append(.history(socket: try r.int(), exchange: Int(truncatingIfNeeded: try r.int()), role: try r.text(),
                                    start: Int(truncatingIfNeeded: try r.int()), length: Int(truncatingIfNeeded: try r.int())))
            case 14: ops.append(.historyCleared(socket: try r.int()))
            case 15:
                let (socket, call, path, existed, content) = (try r.int(), try r.text(), try r.text(), try r.bool(), try r.bytes())
                ops.append(.undo(socket: socket, call: call, path: path, previous: existed ? content : nil))
            case 16: ops.append(.undoDeleted(socket: try r.int(), call: try r.text()))
            case let tag:
                throw Corrupt(description: "unknown op \(tag) at byte \(r.offset - 1)")
            }
        }
        return ops
    }

    private struct Writer {
        var out: [UInt8] = []
        init() { out.reserveCapacity(512) }
        mutating func tag(_ value: UInt8) { out.append(value) }
        mutating func bool(_ value: Bool) { out.append(value ? 1 : 0) }
        mutating func int(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        mutating func double(_ value: Double) { int(value.bitPattern) }
        mutating func count(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { out.append(contentsOf: $0) } }
        mutating func bytes(_ value: [UInt8]) {
            count(value.count)
            out.append(contentsOf: value)
        }
        mutating func text(_ value: String) {
            count(value.utf8.count)
            out.append(contentsOf: value.utf8)
        }
    }

    private struct Reader {
        let input: [UInt8]
        var offset = 0
        var atEnd: Bool { offset >= input.count }

        /// Checks that `count` bytes remain and moves past them; returns where they start.
        mutating func skip(_ count: Int) throws(Corrupt) -> Int {
            guard count >= 0, input.count - offset >= count else {
                throw Corrupt(description: "truncated at byte \(offset) (\(count) more wanted)")
            }
            defer { offset += count }
            return offset
        }
        mutating func byte() throws(Corrupt) -> UInt8 { input[try skip(1)] }
        mutating func bool() throws(Corrupt) -> Bool { try byte() != 0 }
        mutating func int() throws(Corrupt) -> UInt64 {
            let at = try skip(8)
            return UInt64(littleEndian: input.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) })
        }
        mutating func double() throws(Corrupt) -> Double { Double(bitPattern: try int()) }
        mutating func length() throws(Corrupt) -> Int {
            let at = try skip(4)
            return Int(UInt32(littleEndian: input.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }))
        }
        mutating func bytes() throws(Corrupt) -> [UInt8] {
            let count = try length()
            let at = try skip(count)
            return Array(input[at..<at + count])
        }
        mutating func text() throws(Corrupt) -> String {
            let count = try length()
            let at = try skip(count)
            return String(decoding: input[at..<at + count], as: UTF8.self)
        }
        mutating func kind() throws(Corrupt) -> StreamKind {
            let text = try text()
            guard let kind = StreamKind(rawValue: text) else { throw Corrupt(description: "unknown stream '\(text)'") }
            return kind
        }
    }
}
