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
/// the hot path): `id`, `time`, `type`, `socket`, `uid`, `daemon`, `from_log`, the socket's
/// `owner`, `group` and `mode`, then the type's own fields.
enum EventJSON {
    static func line(_ event: AIEvent, id: UInt64, daemon: String, fromLog: Bool) -> [UInt8] {
        var out = "{\"id\":\(id),\"time\":"
        JSONText.append(WallClock.iso8601(event.time, fraction: true), to: &out)
        out += ",\"type\":"
        JSONText.append(event.type, to: &out)
        out += ",\"socket\":"
        if let socket = event.socket { JSONText.append(socket, to: &out) } else { out += "null" }
        out += ",\"uid\":\(event.uid),\"daemon\":"
        JSONText.append(daemon, to: &out)
        out += ",\"from_log\":\(fromLog)"
        if let audience = event.audience {
            out += ",\"owner\":\(audience.uid),\"group\":\(audience.gid),\"mode\":\"\(String(audience.mode, radix: 8))\""
        }
        for (key, value) in event.fields {
            out += ","
            JSONText.append(key, to: &out)
            out += ":"
            switch value {
            case .string(let text): JSONText.append(text, to: &out)
            case .int(let number): out += "\(number)"
            case .double(let number): out += number.isFinite ? format(number) : "null"
            case .bool(let flag): out += "\(flag)"
            case .null: out += "null"
            }
        }
        out += "}\n"
        return Array(out.utf8)
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
