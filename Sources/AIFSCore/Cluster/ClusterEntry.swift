import Foundation

/// One entry of the cluster log: a change to the shared namespace.
///
/// With `[store] backend = "redis"` every change goes through one Redis stream, and every
/// daemon applies every entry, in log order, to its own sockets (and its own SQLite replica).
/// Two kinds:
///
/// - **Commands** come from any daemon: what a user did through a mount (mkdir, a message, a
///   ctl line, a prompt, a snapshot…). Applying one runs exactly the code a single daemon runs.
/// - **Work** comes only from a socket's owner, the one daemon that calls its model: reply
///   text as it streams, usage, provider notes, and the end of the request. Applying it feeds
///   the same socket state on every daemon, so every mount streams the reply.
///
/// Every entry carries the time it was made, which every daemon uses while applying it, so
/// transcripts, error lines and ids come out the same everywhere.
public struct ClusterEntry: Sendable, Equatable {
    public enum Body: Sendable, Equatable {
        // Commands
        case create(name: String, model: String?, uid: UInt32, gid: UInt32, mode: UInt32)
        case remove(name: String)
        case rename(from: String, to: String)
        case ownership(socket: SocketID, mode: UInt32?, uid: UInt32?, gid: UInt32?)
        /// A message for `input` (route ""), `chat` (route "chat:ORIGIN:TOKEN") or the team chat
        /// (route "team:ROUND[:synthesis]"); `kind` is the origin (see ``MessageOrigin``).
        case submit(socket: SocketID, content: [UInt8], priorityHigh: Bool, uid: UInt32, route: String, kind: String)
        /// ctl text, already parsed once by the daemon that took it.
        case control(socket: SocketID, text: String, uid: UInt32, gid: UInt32)
        case prompt(socket: SocketID, bytes: [UInt8])
        case teamControl(text: String)
        case teamCancel(socket: SocketID, round: UInt64, reason: String)
        case discussion(socket: SocketID, text: [UInt8], round: UInt64)
        case daemonControl(text: String, uid: UInt32, gid: UInt32)
        case snapshot(name: String, trigger: String)
        case snapshotDelete(name: String)
        // Work (the owner's)
        case text(socket: SocketID, message: UInt64, bytes: [UInt8])
        case reasoning(socket: SocketID, message: UInt64, bytes: [UInt8])
        case usage(socket: SocketID, message: UInt64, input: Int, output: Int)
        case diagnostic(socket: SocketID, message: UInt64, kind: String, text: String)
        /// outcome: "completed", "failed", "cancelled".
        case end(socket: SocketID, message: UInt64, outcome: String, reason: String)
        /// A new owner answers the request in flight again from the start (its old owner stopped).
        case restart(socket: SocketID, message: UInt64)
    }

    /// The daemon that wrote it.
    public var origin: String
    /// Wall-clock time at the origin; every daemon applies the entry at this time.
    public var time: Double
    /// Set when the origin waits for the entry to be applied (a FUSE request to answer).
    public var token: UInt64
    /// Counts the origin's entries: an entry written twice (a write retried after a lost
    /// reply) is applied once.
    public var sequence: UInt64
    public var body: Body

    public init(origin: String, time: Double, token: UInt64 = 0, sequence: UInt64 = 0, body: Body) {
        self.origin = origin
        self.time = time
        self.token = token
        self.sequence = sequence
        self.body = body
    }

    /// Work entries come from owners and are not waited for.
    var isWork: Bool {
        switch body {
        case .text, .reasoning, .usage, .diagnostic, .end, .restart: return true
        default: return false
        }
    }
}

/// The entry's bytes in the log: a format byte, then fixed fields and tagged bodies written with
/// ``BinaryWriter``. Decoding refuses anything truncated or unknown (a newer daemon's entry is
/// skipped with a log line, never half-applied).
enum ClusterEntryCodec {
    static let format: UInt8 = 1

    static func encode(_ e: ClusterEntry) -> [UInt8] {
        var w = BinaryWriter()
        w.u8(format)
        w.string(e.origin)
        w.double(e.time)
        w.u64(e.token)
        w.u64(e.sequence)
        switch e.body {
        case .create(let name, let model, let uid, let gid, let mode):
            w.u8(1); w.string(name); w.string(model ?? ""); w.u32(uid); w.u32(gid); w.u32(mode)
        case .remove(let name):
            w.u8(2); w.string(name)
        case .rename(let from, let to):
            w.u8(3); w.string(from); w.string(to)
        case .ownership(let socket, let mode, let uid, let gid):
            w.u8(4); w.u64(socket)
            for value in [mode, uid, gid] { w.bool(value != nil); w.u32(value ?? 0) }
        case .submit(let socket, let content, let priority, let uid, let route, let kind):
            w.u8(5); w.u64(socket); w.bytes(content); w.bool(priority); w.u32(uid); w.string(route); w.string(kind)
        case .control(let socket, let text, let uid, let gid):
            w.u8(6); w.u64(socket); w.string(text); w.u32(uid); w.u32(gid)
        case .prompt(let socket, let bytes):
            w.u8(7); w.u64(socket); w.bytes(bytes)
        case .teamControl(let text):
            w.u8(8); w.string(text)
        case .teamCancel(let socket, let round, let reason):
            w.u8(9); w.u64(socket); w.u64(round); w.string(reason)
        case .discussion(let socket, let text, let round):
            w.u8(10); w.u64(socket); w.bytes(text); w.u64(round)
        case .daemonControl(let text, let uid, let gid):
            w.u8(11); w.string(text); w.u32(uid); w.u32(gid)
        case .snapshot(let name, let trigger):
            w.u8(12); w.string(name); w.string(trigger)
        case .snapshotDelete(let name):
            w.u8(13); w.string(name)
        case .text(let socket, let message, let bytes):
            w.u8(20); w.u64(socket); w.u64(message); w.bytes(bytes)
        case .reasoning(let socket, let message, let bytes):
            w.u8(21); w.u64(socket); w.u64(message); w.bytes(bytes)
        case .usage(let socket, let message, let input, let output):
            w.u8(22); w.u64(socket); w.u64(message); w.u64(UInt64(max(0, input))); w.u64(UInt64(max(0, output)))
        case .diagnostic(let socket, let message, let kind, let text):
            w.u8(23); w.u64(socket); w.u64(message); w.string(kind); w.string(text)
        case .end(let socket, let message, let outcome, let reason):
            w.u8(24); w.u64(socket); w.u64(message); w.string(outcome); w.string(reason)
        case .restart(let socket, let message):
            w.u8(25); w.u64(socket); w.u64(message)
        }
        return w.data
    }

    static func decode(_ data: [UInt8]) throws -> ClusterEntry {
        var r = BinaryReader(data)
        guard try r.u8() == format else { throw StoreError("cluster entry in an unknown format") }
        let origin = try r.string(), time = try r.double(), token = try r.u64(), sequence = try r.u64()
        let body: ClusterEntry.Body
        switch try r.u8() {
        case 1:
            let name = try r.string(), model = try r.string()
            body = .create(name: name, model: model.isEmpty ? nil : model, uid: try r.u32(), gid: try r.u32(), mode: try r.u32())
        case 2: body = .remove(name: try r.string())
        case 3: body = .rename(from: try r.string(), to: try r.string())
        case 4:
            let socket = try r.u64()
            var values: [UInt32?] = []
            for _ in 0..<3 {
                let present = try r.bool(), value = try r.u32()
                values.append(present ? value : nil)
            }
            body = .ownership(socket: socket, mode: values[0], uid: values[1], gid: values[2])
        case 5:
            body = .submit(socket: try r.u64(), content: try r.bytes(), priorityHigh: try r.bool(), uid: try r.u32(),
                           route: try r.string(), kind: try r.string())
        case 6: body = .control(socket: try r.u64(), text: try r.string(), uid: try r.u32(), gid: try r.u32())
        case 7: body = .prompt(socket: try r.u64(), bytes: try r.bytes())
        case 8: body = .teamControl(text: try r.string())
        case 9: body = .teamCancel(socket: try r.u64(), round: try r.u64(), reason: try r.string())
        case 10: body = .discussion(socket: try r.u64(), text: try r.bytes(), round: try r.u64())
        case 11: body = .daemonControl(text: try r.string(), uid: try r.u32(), gid: try r.u32())
        case 12: body = .snapshot(name: try r.string(), trigger: try r.string())
        case 13: body = .snapshotDelete(name: try r.string())
        case 20: body = .text(socket: try r.u64(), message: try r.u64(), bytes: try r.bytes())
        case 21: body = .reasoning(socket: try r.u64(), message: try r.u64(), bytes: try r.bytes())
        case 22: body = .usage(socket: try r.u64(), message: try r.u64(), input: Int(clamping: try r.u64()), output: Int(clamping: try r.u64()))
        case 23: body = .diagnostic(socket: try r.u64(), message: try r.u64(), kind: try r.string(), text: try r.string())
        case 24: body = .end(socket: try r.u64(), message: try r.u64(), outcome: try r.string(), reason: try r.string())
        case 25: body = .restart(socket: try r.u64(), message: try r.u64())
        default: throw StoreError("cluster entry of an unknown kind")
        }
        return ClusterEntry(origin: origin, time: time, token: token, sequence: sequence, body: body)
    }
}
