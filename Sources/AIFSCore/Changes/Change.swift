import Foundation

/// A change of the namespace or of a socket's state: the one language of every mutation.
///
/// Every handler that changes something (mkdir, rmdir, mv, chmod, a message, a ctl line, a
/// prompt, a team round, a snapshot, a provider's reply) describes it as a `Change` and posts it
/// to the daemon's ``ChangeLog``; the ``Applier`` applies it, and that is the only place state
/// mutates. With one daemon the log is a ``LocalLog`` that applies at once; with the Redis
/// backend it is the ``RedisLog``, a stream every daemon reads and applies in order, so all
/// mounts show one namespace. Two kinds:
///
/// - **Commands** come from any daemon: what a user did through a mount.
/// - **Work** comes only from a socket's owner, the one daemon that calls its model: reply
///   text as it streams, usage, provider notes, and the end of the request. Applying it feeds
///   the same socket state on every daemon, so every mount streams the reply.
public enum Change: Sendable, Equatable {
    // Commands
    case create(name: String, model: String?, uid: UInt32, gid: UInt32, mode: UInt32)
    case remove(name: String)
    case rename(from: String, to: String)
    case ownership(socket: SocketID, mode: UInt32?, uid: UInt32?, gid: UInt32?)
    /// A message for a socket; `route` says where its reply goes, `kind` where it came from.
    case submit(socket: SocketID, content: [UInt8], priorityHigh: Bool, uid: UInt32, route: LoggedRoute, kind: MessageKind)
    /// ctl text, already parsed once by the daemon that took it.
    case control(socket: SocketID, text: String, uid: UInt32, gid: UInt32)
    case prompt(socket: SocketID, bytes: [UInt8])
    case teamControl(text: String)
    case teamCancel(socket: SocketID, round: UInt64, reason: String)
    case discussion(socket: SocketID, text: [UInt8], round: UInt64)
    case daemonControl(text: String, uid: UInt32, gid: UInt32)
    /// A snapshot of every socket (`socket` nil) or of one.
    case snapshot(name: String, trigger: SnapshotTrigger, socket: SocketID?)
    case snapshotDelete(name: String)
    // Work (the owner's)
    case text(socket: SocketID, message: UInt64, bytes: [UInt8])
    case reasoning(socket: SocketID, message: UInt64, bytes: [UInt8])
    case usage(socket: SocketID, message: UInt64, input: Int, output: Int)
    case diagnostic(socket: SocketID, message: UInt64, kind: String, text: String)
    case end(socket: SocketID, message: UInt64, outcome: WorkOutcome)
    /// A new owner answers the request in flight again from the start (its old owner stopped).
    case restart(socket: SocketID, message: UInt64)
    /// A step of the agent loop of the request in flight: a tool call, its wait for
    /// confirmation, its result, or what a `write` replaced (see ``ToolEvent``).
    case tool(socket: SocketID, message: UInt64, event: ToolEvent)
    /// A line of an agent's network use (`network` file): into the transcript (`[network] TIME`)
    /// and memory of every daemon, from the daemon that ran the request.
    case network(socket: SocketID, text: String)

    /// Work entries come from owners and are not waited for.
    var isWork: Bool {
        switch self {
        case .text, .reasoning, .usage, .diagnostic, .end, .restart, .tool, .network: return true
        default: return false
        }
    }
}

/// Where the reply to a logged message goes: `output`, one daemon's `chat` descriptor (by the
/// token that daemon gave it), or a team-chat round.
public enum LoggedRoute: Sendable, Equatable {
    case output
    case chat(origin: String, token: UInt64)
    case team(round: UInt64, synthesis: Bool)
}

/// Where a logged message came from (its transcript header and memory metadata follow).
public enum MessageKind: String, Sendable, Equatable {
    case input, chat, team, broadcast, synthesis
}

/// How the request in flight ended.
public enum WorkOutcome: Sendable, Equatable {
    case completed
    case failed(String)
    case cancelled(String)
}

/// A change as the log holds it: who posted it, when, and how the poster waits for it.
///
/// Every daemon applies a change at the time it was made, so transcripts, error lines and ids
/// come out the same everywhere.
public struct LoggedChange: Sendable, Equatable {
    /// The daemon that posted it.
    public var origin: String
    /// Wall-clock time at the origin; every daemon applies the change at this time.
    public var time: Double
    /// Set when the origin waits for the change to be applied (a FUSE request to answer).
    public var token: UInt64
    /// Counts the origin's changes: a change written twice (a write retried after a lost
    /// reply) is applied once.
    public var sequence: UInt64
    public var change: Change
    /// The log itself is the durable copy (Redis): a message joins its queue at once instead
    /// of waiting for the local store's commit.
    public var isDurable: Bool
    /// The uid of the request that posted it, when the poster said (``ChangeContext``): what
    /// `/ai/events` names as its cause. Without one, the one of the posting thread.
    public var uid: UInt32?

    public init(origin: String, time: Double, token: UInt64 = 0, sequence: UInt64 = 0, change: Change, isDurable: Bool = false,
                uid: UInt32? = nil) {
        self.uid = uid ?? ChangeContext.posterUID
        self.origin = origin
        self.time = time
        self.token = token
        self.sequence = sequence
        self.change = change
        self.isDurable = isDurable
    }
}

/// A logged change's bytes in the Redis stream: a format byte, then fixed fields and tagged bodies written with
/// ``BinaryWriter``. Decoding refuses anything truncated or unknown (a newer daemon's entry is
/// skipped with a log line, never half-applied).
enum LoggedChangeCodec {
    static let format: UInt8 = 1

    static func encode(_ e: LoggedChange) -> [UInt8] {
        var w = BinaryWriter()
        w.u8(format)
        w.string(e.origin)
        w.double(e.time)
        w.u64(e.token)
        w.u64(e.sequence)
        switch e.change {
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
            w.u8(5); w.u64(socket); w.bytes(content); w.bool(priority); w.u32(uid); w.string(route.storedForm); w.string(kind.rawValue)
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
        case .snapshot(let name, let trigger, nil):
            w.u8(12); w.string(name); w.string(trigger.rawValue)
        case .snapshot(let name, let trigger, let socket?):
            w.u8(14); w.string(name); w.string(trigger.rawValue); w.u64(socket)
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
        case .end(let socket, let message, let outcome):
            let (kind, reason) = outcome.storedForm
            w.u8(24); w.u64(socket); w.u64(message); w.string(kind); w.string(reason)
        case .restart(let socket, let message):
            w.u8(25); w.u64(socket); w.u64(message)
        case .tool(let socket, let message, let event):
            w.u8(26); w.u64(socket); w.u64(message); event.encode(into: &w)
        case .network(let socket, let text):
            w.u8(27); w.u64(socket); w.string(text)
        }
        // Last, so a daemon that does not know it yet reads the entry without it.
        if let uid = e.uid { w.u32(uid) }
        return w.data
    }

    static func decode(_ data: [UInt8]) throws -> LoggedChange {
        var r = BinaryReader(data)
        guard try r.u8() == format else { throw StoreError("cluster entry in an unknown format") }
        let origin = try r.string(), time = try r.double(), token = try r.u64(), sequence = try r.u64()
        let body: Change
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
            let socket = try r.u64(), content = try r.bytes(), priority = try r.bool(), uid = try r.u32()
            guard let route = LoggedRoute(storedForm: try r.string()), let kind = MessageKind(rawValue: try r.string()) else {
                throw StoreError("cluster entry with an unknown message route or kind")
            }
            body = .submit(socket: socket, content: content, priorityHigh: priority, uid: uid, route: route, kind: kind)
        case 6: body = .control(socket: try r.u64(), text: try r.string(), uid: try r.u32(), gid: try r.u32())
        case 7: body = .prompt(socket: try r.u64(), bytes: try r.bytes())
        case 8: body = .teamControl(text: try r.string())
        case 9: body = .teamCancel(socket: try r.u64(), round: try r.u64(), reason: try r.string())
        case 10: body = .discussion(socket: try r.u64(), text: try r.bytes(), round: try r.u64())
        case 11: body = .daemonControl(text: try r.string(), uid: try r.u32(), gid: try r.u32())
        case 12:
            let name = try r.string()
            guard let trigger = SnapshotTrigger(rawValue: try r.string()) else { throw StoreError("cluster entry with an unknown snapshot trigger") }
            body = .snapshot(name: name, trigger: trigger, socket: nil)
        case 13: body = .snapshotDelete(name: try r.string())
        case 14:
            let name = try r.string()
            guard let trigger = SnapshotTrigger(rawValue: try r.string()) else { throw StoreError("cluster entry with an unknown snapshot trigger") }
            body = .snapshot(name: name, trigger: trigger, socket: try r.u64())
        case 20: body = .text(socket: try r.u64(), message: try r.u64(), bytes: try r.bytes())
        case 21: body = .reasoning(socket: try r.u64(), message: try r.u64(), bytes: try r.bytes())
        case 22: body = .usage(socket: try r.u64(), message: try r.u64(), input: Int(clamping: try r.u64()), output: Int(clamping: try r.u64()))
        case 23: body = .diagnostic(socket: try r.u64(), message: try r.u64(), kind: try r.string(), text: try r.string())
        case 24:
            let socket = try r.u64(), message = try r.u64()
            body = .end(socket: socket, message: message, outcome: WorkOutcome(storedKind: try r.string(), reason: try r.string()))
        case 25: body = .restart(socket: try r.u64(), message: try r.u64())
        case 26: body = .tool(socket: try r.u64(), message: try r.u64(), event: try ToolEvent.decode(&r))
        case 27: body = .network(socket: try r.u64(), text: try r.string())
        default: throw StoreError("cluster entry of an unknown kind")
        }
        let uid: UInt32? = r.isAtEnd ? nil : try r.u32()
        return LoggedChange(origin: origin, time: time, token: token, sequence: sequence, change: body, isDurable: true, uid: uid)
    }
}

extension LoggedRoute {
    /// The route as text: "", `chat:ORIGIN:TOKEN` or `team:ROUND[:synthesis]` (the store keeps
    /// queued team messages in the same form).
    var storedForm: String {
        switch self {
        case .output: return ""
        case .chat(let origin, let token): return "chat:\(origin):\(token)"
        case .team(let round, let synthesis): return "team:\(round)" + (synthesis ? ":synthesis" : "")
        }
    }

    init?(storedForm text: String) {
        if text.isEmpty { self = .output; return }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "chat", let token = UInt64(parts[2]) {
            self = .chat(origin: String(parts[1]), token: token)
        } else if parts.count >= 2, parts[0] == "team", let round = UInt64(parts[1]) {
            self = .team(round: round, synthesis: parts.count > 2 && parts[2] == "synthesis")
        } else {
            return nil
        }
    }
}

extension WorkOutcome {
    var storedForm: (kind: String, reason: String) {
        switch self {
        case .completed: return ("completed", "")
        case .failed(let reason): return ("failed", reason)
        case .cancelled(let reason): return ("cancelled", reason)
        }
    }

    init(storedKind kind: String, reason: String) {
        switch kind {
        case "completed": self = .completed
        case "cancelled": self = .cancelled(reason)
        default: self = .failed(reason)
        }
    }
}
