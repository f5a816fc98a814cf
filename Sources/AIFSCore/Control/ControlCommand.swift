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
/// Parsed by ``CommandTable`` (one command per line; blank lines and `#` comments skipped);
/// ``ControlError`` says why a line is refused, and every refusal is `EINVAL`.
public enum ControlCommand: LineCommand, Equatable {
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

    /// Longest ctl line accepted by default (`[limits] ctl_line`), for every ctl file.
    public static let maxLineLength = 4096

    /// The verbs of a socket's `ctl`, as in the table above.
    public static let commands = CommandTable<ControlCommand>([
        .init("model PROVIDER/MODEL", arguments: 1) { .model($0[0]) },
        .init("set KEY VALUE", arguments: 2...) { (args: CommandArguments) throws(ControlError) in
            guard let setting = Setting(rawValue: args[0]) else {
                throw ControlError("unknown setting '\(args[0])' (known: \(Setting.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var value = args.words.dropFirst().joined(separator: " ")
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            try setting.validate(value)
            return .set(setting, value)
        },
        .init("reset", arguments: 0) { _ in .reset },
        .init("cancel", arguments: 0) { _ in .cancel },
        .init("state active|inactive|unresponsive", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            guard let state = SocketState(rawValue: args[0]) else { throw ControlError("unknown state '\(args[0])' (active, inactive, unresponsive)") }
            return .state(state)
        },
        .init("headers on|off", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            switch args[0] {
            case "on": return .headers(true)
            case "off": return .headers(false)
            default: throw args.misuse
            }
        },
        .init("fork NAME", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("fork: \(problem)") }
            return .fork(args[0])
        },
        .init("wire NAME", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("wire: \(problem)") }
            return .wire(args[0])
        },
        .init("unwire", arguments: 0) { _ in .unwire },
        .init("restore SNAPSHOT", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            if let problem = SnapshotName.problem(with: args[0]) { throw ControlError("restore: \(problem)") }
            return .restore(args[0])
        },
    ])
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
