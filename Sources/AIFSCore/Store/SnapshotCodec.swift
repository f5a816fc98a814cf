import Foundation

/// The compact binary form a snapshot keeps a socket's state in (everything but the
/// transcript, which is kept as shared segments): the record, the context, the queue and the
/// unread streams, and (format 2) the conversation's history. Little-endian fixed-width
/// integers and length-prefixed bytes; a leading format number so that a later layout can still
/// read this one (format 1 has no history).
enum SnapshotCodec {
    static let format: UInt8 = 2

    static func encode(_ s: SocketSnapshot) -> [UInt8] {
        var w = BinaryWriter()
        w.u8(format)
        let r = s.record
        w.u64(r.id); w.string(r.name); w.string(r.model); w.string(r.life.rawValue); w.bool(r.headers)
        w.u32(UInt32(r.settings.count))
        for (key, value) in r.settings.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { w.string(key.rawValue); w.string(value) }
        w.bytes(r.prompt); w.double(r.created); w.double(r.lastActivity)
        w.u32(r.uid); w.u32(r.gid); w.u32(r.mode)
        w.u64(UInt64(r.messages)); w.u64(UInt64(r.tokensIn)); w.u64(UInt64(r.tokensOut)); w.u64(r.nextMessageID)
        w.string(r.wire)
        w.u32(UInt32(s.context.count))
        for turn in s.context { w.string(turn.role.rawValue); w.bytes(turn.content) }
        w.u32(UInt32(s.queue.count))
        for m in s.queue {
            w.u64(m.id); w.bytes(m.content); w.bool(m.headers.priorityHigh); w.u32(m.uid); w.double(m.time)
            w.string(m.route.storedForm)
        }
        w.u64(s.interrupted ?? 0)
        for stream in [s.output, s.errors] {
            w.bytes(stream.bytes)
            w.u32(UInt32(stream.failureMarks.count))
            for mark in stream.failureMarks { w.u64(UInt64(mark)) }
        }
        w.u32(UInt32(s.history.count))
        for entry in s.history {
            w.u64(UInt64(truncatingIfNeeded: entry.exchange)); w.bool(entry.role == .assistant)
            w.u64(UInt64(truncatingIfNeeded: entry.start)); w.u64(UInt64(truncatingIfNeeded: entry.length))
        }
        return w.data
    }

    static func decode(_ data: [UInt8]) throws -> SocketSnapshot {
        var r = BinaryReader(data)
        let version = try r.u8()
        guard version == 1 || version == format else { throw StoreError("snapshot state in an unknown format") }
        let id = try r.u64(), name = try r.string(), model = try r.string()
        let life = SocketState(rawValue: try r.string()) ?? .active
        let headers = try r.bool()
        var settings: [Setting: String] = [:]
        for _ in 0..<(try r.u32()) {
            let key = try r.string(), value = try r.string()
            if let setting = Setting(rawValue: key) { settings[setting] = value }
        }
        let prompt = try r.bytes(), created = try r.double(), lastActivity = try r.double()
        let uid = try r.u32(), gid = try r.u32(), mode = try r.u32()
        let messages = try r.int(), tokensIn = try r.int(), tokensOut = try r.int(), next = try r.u64()
        let wire = try r.string()
        var snapshot = SocketSnapshot(record: SocketRecord(
            id: id, name: name, model: model, life: life, headers: headers, settings: settings, prompt: prompt,
            created: created, lastActivity: lastActivity, uid: uid, gid: gid, mode: mode, messages: messages,
            tokensIn: tokensIn, tokensOut: tokensOut, nextMessageID: next, wire: wire))
        for _ in 0..<(try r.u32()) {
            let role = Turn.Role(rawValue: try r.string()) ?? .user
            snapshot.context.append(Turn(role: role, content: try r.bytes()))
        }
        for _ in 0..<(try r.u32()) {
            let messageID = try r.u64(), content = try r.bytes(), priority = try r.bool(), uid = try r.u32(), time = try r.double()
            let route = ReplyRoute.fromStored(try r.string())
            snapshot.queue.append(InputMessage(id: messageID, content: content, headers: MessageHeaders(priorityHigh: priority),
                                               uid: uid, time: time, route: route))
        }
        let interrupted = try r.u64()
        snapshot.interrupted = interrupted == 0 ? nil : interrupted
        var streams: [RestoredStream] = []
        for _ in 0..<2 {
            let bytes = try r.bytes()
            var marks: [Int] = []
            for _ in 0..<(try r.u32()) { marks.append(try r.int()) }
            streams.append(RestoredStream(bytes: bytes, failureMarks: marks))
        }
        snapshot.output = streams[0]
        snapshot.errors = streams[1]
        if version >= 2 {
            for _ in 0..<(try r.u32()) {
                let exchange = try r.int(), assistant = try r.bool(), start = try r.int(), length = try r.int()
                snapshot.history.append(HistoryEntry(exchange: exchange, role: assistant ? .assistant : .user, start: start, length: length))
            }
        }
        return snapshot
    }
}

/// Appends little-endian values to a byte array.
struct BinaryWriter {
    private(set) var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func bool(_ v: Bool) { data.append(v ? 1 : 0) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func double(_ v: Double) { u64(v.bitPattern) }
    mutating func bytes(_ v: [UInt8]) { u32(UInt32(v.count)); data.append(contentsOf: v) }
    mutating func string(_ v: String) { bytes(Array(v.utf8)) }
}

/// Reads what ``BinaryWriter`` wrote; throws on truncated input instead of trapping.
struct BinaryReader {
    private let data: [UInt8]
    private var index = 0
    init(_ data: [UInt8]) { self.data = data }
    /// Whether every byte has been read.
    var isAtEnd: Bool { index >= data.count }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, data.count - index >= count else { throw StoreError("snapshot state is truncated") }
        defer { index += count }
        return data[index..<(index + count)]
    }
    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func bool() throws -> Bool { try u8() != 0 }
    mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func double() throws -> Double { Double(bitPattern: try u64()) }
    /// A count or position written from an `Int`: one past `Int.max` is corrupt, and throws.
    mutating func int() throws -> Int {
        guard let value = Int(exactly: try u64()) else { throw StoreError("snapshot state holds a number out of range") }
        return value
    }
    mutating func bytes() throws -> [UInt8] { Array(try take(Int(try u32()))) }
    mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }
}
