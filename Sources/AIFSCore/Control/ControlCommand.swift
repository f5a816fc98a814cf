import FuseKit

/// One line written to a socket's `ctl`, parsed. The table of commands (Plan 9's `Cmdtab`):
///
/// | command | effect |
/// | --- | --- |
/// | `model PROVIDER/MODEL` | use that model for the next requests (must be in `/ai/models`) |
/// | `set KEY VALUE` | a request setting: see ``Setting`` |
/// | `reset` | clear queue, unread output, context |
/// | `cancel` | abort the request in flight |
/// | `state active\|inactive\|unresponsive` | |
/// | `headers on\|off` | `[team-chat-from-NAME]` line before each reply in `output` |
/// | `fork NAME` | a new socket NAME with a copy of this one's model, settings, prompt and context |
/// | `wire NAME` | send each finished reply to NAME's input instead of `output` (`ENOENT`, `ELOOP`) |
/// | `unwire` | replies go to `output` again |
/// | `restore SNAPSHOT` | this socket as it was in that snapshot (`ENOENT`) |
///
/// Parsing is pure and knows nothing of sockets; ``ControlError`` says why a line is refused,
/// and every refusal is `EINVAL`.
public enum ControlCommand: Equatable, Sendable {
    case model(String)
    case set(Setting, String)
    case reset
    case cancel
    case state(SocketState)
    case headers(Bool)
    case fork(String)
    case wire(String)
    case unwire
    case restore(String)

    /// Longest ctl line accepted by default (`[limits] ctl_line`).
    public static let maxLineLength = 4096

    /// Parses one line (without its newline). Blank lines and `#` comments are not commands:
    /// ``parseLines(_:)`` skips them.
    public static func parse(_ line: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> ControlCommand {
        guard line.utf8.count <= maxLine else { throw ControlError("line longer than \(maxLine) bytes") }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { throw ControlError("empty command") }
        let args = Array(words.dropFirst())
        func expect(_ count: Int, _ usage: String) throws(ControlError) {
            guard args.count == count else { throw ControlError("usage: \(usage)") }
        }
        switch verb {
        case "model":
            try expect(1, "model PROVIDER/MODEL")
            return .model(args[0])
        case "set":
            guard args.count >= 2 else { throw ControlError("usage: set KEY VALUE") }
            guard let setting = Setting(rawValue: args[0]) else {
                throw ControlError("unknown setting '\(args[0])' (known: \(Setting.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var value = args.dropFirst().joined(separator: " ")
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            try setting.validate(value)
            return .set(setting, value)
        case "reset":
            try expect(0, "reset")
            return .reset
        case "cancel":
            try expect(0, "cancel")
            return .cancel
        case "state":
            try expect(1, "state active|inactive|unresponsive")
            guard let state = SocketState(rawValue: args[0]) else { throw ControlError("unknown state '\(args[0])' (active, inactive, unresponsive)") }
            return .state(state)
        case "headers":
            try expect(1, "headers on|off")
            switch args[0] {
            case "on": return .headers(true)
            case "off": return .headers(false)
            default: throw ControlError("usage: headers on|off")
            }
        case "fork":
            try expect(1, "fork NAME")
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("fork: \(problem)") }
            return .fork(args[0])
        case "wire":
            try expect(1, "wire NAME")
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("wire: \(problem)") }
            return .wire(args[0])
        case "unwire":
            try expect(0, "unwire")
            return .unwire
        case "restore":
            try expect(1, "restore SNAPSHOT")
            if let problem = SnapshotName.problem(with: args[0]) { throw ControlError("restore: \(problem)") }
            return .restore(args[0])
        default:
            throw ControlError("unknown command '\(verb.prefix(64))'")
        }
    }

    /// Parses every line of `text`; all or nothing. Lines end at each `\n` byte (split as bytes:
    /// as characters, `\r\n` is one character that is not `\n`), so `\r\n` line ends work too.
    public static func parseLines(_ text: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> [ControlCommand] {
        var commands: [ControlCommand] = []
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Substring(rawLine).trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            commands.append(try parse(String(line), maxLine: maxLine))
        }
        return commands
    }
}

/// Why a ctl line was refused (always `EINVAL`).
public struct ControlError: Error, ErrnoConvertible, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var errno: Errno { .EINVAL }
    public var description: String { reason }
}

/// A socket's life state.
public enum SocketState: String, Sendable, CaseIterable {
    /// Answers its queue; included in broadcasts.
    case active
    /// Answers its own queue; left out of broadcasts.
    case inactive
    /// Refuses new input (`EHOSTDOWN`); set by hand or after repeated provider failures.
    case unresponsive
}

/// The keys `set` accepts, with their ranges.
public enum Setting: String, Sendable, CaseIterable {
    case temperature
    case maxTokens = "max-tokens"
    case topP = "top-p"
    case timeout
    case contextTokens = "context-tokens"
    /// Free text saying what the socket is good at, for discovery in `/ai/ctl`; not sent to models.
    case capabilities

    func validate(_ value: String) throws(ControlError) {
        switch self {
        case .temperature:
            guard let v = Double(value), v >= 0, v <= 2 else { throw ControlError("temperature must be a number from 0 to 2") }
        case .topP:
            guard let v = Double(value), v > 0, v <= 1 else { throw ControlError("top-p must be a number above 0, at most 1") }
        case .maxTokens, .contextTokens:
            guard let v = Int(value), v > 0, v <= 10_000_000 else { throw ControlError("\(rawValue) must be a whole number from 1 to 10000000") }
        case .timeout:
            guard let v = Double(value), v > 0, v <= 86_400 else { throw ControlError("timeout must be seconds above 0, at most 86400") }
        case .capabilities:
            guard value.utf8.count <= 200 else { throw ControlError("capabilities: at most 200 bytes") }
        }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return s
    }
}
