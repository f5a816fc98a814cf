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
/// | `fork NAME [TURN]` | a new socket NAME with a copy of this one's model, settings, prompt and context; with TURN, a conversation of exchanges 1 to TURN |
/// | `compact` | replace the oldest turns of the context by a summary the model writes |
/// | `uncompact` | rebuild the whole context from the transcript |
/// | `wire NAME` | send each finished reply to NAME's input instead of `output` (`ENOENT`, `ELOOP`) |
/// | `unwire` | replies go to `output` again |
/// | `restore SNAPSHOT` | this socket as it was in that snapshot (`ENOENT`) |
/// | `tools NAME,NAME\|none` | the tools the model may call (`set tools …`) |
/// | `security safe\|normal\|paranoid\|trusted` | the security mode of its tool calls (`set security …`) |
/// | `approve ID\|all`, `deny ID [REASON]` | decide a call waiting in `pending/` (`ENOENT`: none) |
/// | `undo ID` | put back the file a `write` call changed (`ENOENT`: nothing to undo) |
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
    case fork(String, turn: Int?)
    case compact
    case uncompact
    case wire(String)
    case unwire
    case restore(String)
    /// `approve ID` (nil: `approve all`): run the pending tool call(s).
    case approve(String?)
    /// `deny ID [REASON]`: the pending call goes back to the model refused.
    case deny(String, reason: String)
    /// `undo ID`: put back the file a `write` call changed.
    case undo(String)

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
        .init("fork NAME [TURN]", arguments: 1...2) { (args: CommandArguments) throws(ControlError) in
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("fork: \(problem)") }
            guard args.count == 2 else { return .fork(args[0], turn: nil) }
            guard let turn = Int(args[1].hasPrefix("#") ? String(args[1].dropFirst()) : args[1]), turn >= 0 else {
                throw ControlError("fork: TURN must be an exchange number (#N in the transcript), 0 or more")
            }
            return .fork(args[0], turn: turn)
        },
        .init("compact", arguments: 0) { _ in .compact },
        .init("uncompact", arguments: 0) { _ in .uncompact },
        .init("wire NAME", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("wire: \(problem)") }
            return .wire(args[0])
        },
        .init("unwire", arguments: 0) { _ in .unwire },
        .init("tools NAME,NAME|none", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            try Setting.tools.validate(args[0])
            return .set(.tools, args[0])
        },
        .init("security safe|normal|paranoid|trusted", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            try Setting.security.validate(args[0])
            return .set(.security, args[0])
        },
        .init("approve ID|all", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            args[0] == "all" ? .approve(nil) : .approve(try ToolName.callID(args[0]))
        },
        .init("deny ID [REASON]", arguments: 1...) { (args: CommandArguments) throws(ControlError) in
            .deny(try ToolName.callID(args[0]), reason: args.words.dropFirst().joined(separator: " "))
        },
        .init("undo ID", arguments: 1) { (args: CommandArguments) throws(ControlError) in .undo(try ToolName.callID(args[0])) },
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
    /// Compact instead of dropping turns when the context reaches this share of
    /// `context-tokens` (1–100; 0: off).
    case autoCompact = "auto-compact"
    /// Where a fork came from (`NAME #TURN`): set by `fork`, shown in `ctl`, never by `set`.
    case forkedFrom = "forked-from"
    /// Free text saying what the socket is good at, for discovery in `/ai/ctl`; not sent to models.
    case capabilities
    /// What the socket is for, in a sentence, for `/ai/directory`; not sent to models.
    case description
    /// The tools the model may call (`tools NAME,NAME|none`; checked against `/ai/tools` when set).
    case tools
    /// The security mode of its tool calls (`security safe|normal|paranoid|trusted`; default `[security] mode`).
    case security
    /// Where its tools run (an absolute path; default the owner's home).
    case workdir
    /// Tool rounds one message may take before the request fails (1–1000; default 16).
    case maxToolRounds = "max-tool-rounds"

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
        case .autoCompact:
            guard let v = Int(value), v >= 0, v <= 100 else {
                throw ControlError("auto-compact must be a percentage of context-tokens from 1 to 100 (0: off)")
            }
        case .forkedFrom:
            throw ControlError("forked-from is set by fork, not by set")
        case .capabilities:
            guard value.utf8.count <= 200 else { throw ControlError("capabilities: at most 200 bytes") }
        case .description:
            guard value.utf8.count <= 1000 else { throw ControlError("description: at most 1000 bytes") }
        case .tools:
            let names = value.split(separator: ",", omittingEmptySubsequences: false)
            guard value == "none" || (!names.isEmpty && names.allSatisfy { ToolName.isValid($0) }) else {
                throw ControlError("tools: a comma-separated list of tool names (see /ai/tools), or none")
            }
        case .security:
            guard SecurityMode(rawValue: value) != nil else { throw ControlError("security must be safe, normal, paranoid or trusted") }
        case .workdir:
            guard value.hasPrefix("/"), !value.utf8.contains(0), value.utf8.count <= 4096 else {
                throw ControlError("workdir must be an absolute path")
            }
        case .maxToolRounds:
            guard let v = Int(value), v >= 1, v <= 1000 else { throw ControlError("max-tool-rounds must be a whole number from 1 to 1000") }
        }
    }
}
