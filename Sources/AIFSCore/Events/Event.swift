/// Who may see an event: the owner, group and read bits of its socket as they were when it
/// happened (nil: a daemon event, such as a reload or a cluster change, that every reader sees).
/// Kept with the event, so an event of a socket removed since is still judged.
public struct EventAudience: Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    /// The permission bits (only the read bits decide).
    public var mode: UInt32

    public init(uid: UInt32, gid: UInt32, mode: UInt32) {
        self.uid = uid
        self.gid = gid
        self.mode = mode & 0o7777
    }

    /// Whether `caller` may read a socket of this owner and mode (``Caller/may(_:mode:uid:gid:)``).
    func admits(_ caller: Caller) -> Bool { caller.may(.read, mode: mode, uid: uid, gid: gid) }
}

/// One value of an event's type-specific fields.
public enum EventValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
}

/// One line of `/ai/events`: what happened, when, to which socket, caused by which uid, and
/// its own fields (see `docs/file-protocol.md`, "/ai/events", for every type).
public struct AIEvent: Sendable {
    public var type: String
    /// The socket's name (nil for a daemon event).
    public var socket: String?
    /// The uid whose request caused it; the daemon's own for what it did by itself.
    public var uid: UInt32
    public var audience: EventAudience?
    public var fields: [(String, EventValue)]
    /// Wall-clock seconds (the change's time with the Redis backend, the same on every daemon).
    public var time: Double

    public init(_ type: String, socket: String? = nil, uid: UInt32, audience: EventAudience? = nil,
                time: Double = WallClock.now(), _ fields: [(String, EventValue)] = []) {
        self.type = type
        self.socket = socket
        self.uid = uid
        self.audience = audience
        self.fields = fields
        self.time = time
    }

    /// The event for `socket`'s owner and mode as they are now.
    init(_ type: String, socket info: SocketInfo, uid: UInt32, _ fields: [(String, EventValue)] = []) {
        self.init(type, socket: info.name, uid: uid, audience: EventAudience(uid: info.uid, gid: info.gid, mode: info.mode), fields)
    }
}

/// The JSON line of an event, written by hand in a fixed key order (no Foundation encoder on
/// the hot path, and bytes rather than `String` appends: see ``JSONBytes``): `id`, `time`,
/// `type`, `socket`, `uid`, `daemon`, `from_log`, the socket's `owner`, `group` and `mode`,
/// then the type's own fields.
enum EventJSON {
    static func line(_ event: AIEvent, id: UInt64, daemon: String, fromLog: Bool) -> [UInt8] {
        var out = JSONBytes()
        out.raw("{\"id\":")
        out.unsigned(id)
        out.raw(",\"time\":")
        out.iso8601(event.time, fraction: true)
        out.raw(",\"type\":")
        out.string(event.type)
        out.raw(",\"socket\":")
        if let socket = event.socket { out.string(socket) } else { out.raw("null") }
        out.raw(",\"uid\":")
        out.unsigned(event.uid)
        out.raw(",\"daemon\":")
        out.string(daemon)
        out.raw(",\"from_log\":")
        out.bool(fromLog)
        if let audience = event.audience {
            out.raw(",\"owner\":")
            out.unsigned(audience.uid)
            out.raw(",\"group\":")
            out.unsigned(audience.gid)
            out.raw(",\"mode\":\"")
            out.bytes += String(audience.mode, radix: 8).utf8
            out.raw("\"")
        }
        for (key, value) in event.fields {
            out.raw(",")
            out.string(key)
            out.raw(":")
            switch value {
            case .string(let text): out.string(text)
            case .int(let number): out.int(number)
            case .double(let number):
                if number.isFinite { out.bytes += format(number).utf8 } else { out.raw("null") }
            case .bool(let flag): out.bool(flag)
            case .null: out.raw("null")
            }
        }
        out.raw("}\n")
        // The log keeps 10,000 lines: an exact copy, not the writer's spare capacity.
        return out.bytes.withUnsafeBufferPointer { Array($0) }
    }

    /// Seconds with microseconds at most, as JSON accepts them (no exponent).
    static func format(_ seconds: Double) -> String {
        let micros = Int((seconds * 1_000_000).rounded())
        let sign = micros < 0 ? "-" : ""
        let whole = abs(micros) / 1_000_000, fraction = abs(micros) % 1_000_000
        var digits = String(fraction)
        digits = String(repeating: "0", count: 6 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return digits.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(digits)"
    }

}
