import FuseKit

/// How the team chat runs a round.
public enum TeamMode: String, Sendable, CaseIterable {
    /// Each addressed socket answers on its own.
    case fanout
    /// As fanout, and when the round ends every member's context also gets the other members'
    /// replies, attributed (`[team-chat-from-NAME]`), so the next round is a discussion.
    case discuss
}

/// What `team-chat-all/ctl` sets: the mode, the moderator and the round timeout.
public struct TeamSettings: Sendable, Equatable {
    public var mode: TeamMode = .fanout
    /// The socket that reads every reply and answers last with a synthesis.
    public var moderator: String?
    /// Seconds a round waits for its members (and then for the synthesis).
    public var timeout: Double = TeamSettings.defaultTimeout

    public static let defaultTimeout = 300.0

    public init(mode: TeamMode = .fanout, moderator: String? = nil, timeout: Double = TeamSettings.defaultTimeout) {
        self.mode = mode
        self.moderator = moderator
        self.timeout = timeout
    }

    /// As the store keeps them: key → text.
    var stored: [String: String] {
        ["mode": mode.rawValue, "moderator": moderator ?? "", "timeout": "\(timeout)"]
    }

    init(stored: [String: String]) {
        mode = stored["mode"].flatMap(TeamMode.init(rawValue:)) ?? .fanout
        moderator = stored["moderator"].flatMap { $0.isEmpty ? nil : $0 }
        timeout = stored["timeout"].flatMap(Double.init) ?? Self.defaultTimeout
    }
}

/// One line written to `team-chat-all/ctl`, parsed (pure; every refusal is `EINVAL`).
///
/// | command | effect |
/// | --- | --- |
/// | `mode fanout\|discuss` | how rounds run (see ``TeamMode``) |
/// | `moderator NAME` | NAME reads every reply and its synthesis comes last |
/// | `moderator none` | no moderator (also `-` or `off`) |
/// | `timeout SECONDS` | how long a round waits for its members, then for the synthesis |
public enum TeamCommand: Equatable, Sendable {
    case mode(TeamMode)
    case moderator(String?)
    case timeout(Double)

    public static func parse(_ line: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> TeamCommand {
        guard line.utf8.count <= maxLine else { throw ControlError("line longer than \(maxLine) bytes") }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { throw ControlError("empty command") }
        let args = Array(words.dropFirst())
        switch verb {
        case "mode":
            guard args.count == 1, let mode = TeamMode(rawValue: args[0]) else { throw ControlError("usage: mode fanout|discuss") }
            return .mode(mode)
        case "moderator":
            guard args.count == 1 else { throw ControlError("usage: moderator NAME|none") }
            if ["none", "-", "off"].contains(args[0]) { return .moderator(nil) }
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("moderator: \(problem)") }
            return .moderator(args[0])
        case "timeout":
            guard args.count == 1, let seconds = Double(args[0]), seconds > 0, seconds <= 86_400 else {
                throw ControlError("usage: timeout SECONDS (above 0, at most 86400)")
            }
            return .timeout(seconds)
        default:
            throw ControlError("unknown command '\(verb.prefix(64))' (mode, moderator, timeout)")
        }
    }

    /// Parses every line of `text`; all or nothing. Blank lines and `#` comments are skipped.
    public static func parseLines(_ text: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> [TeamCommand] {
        var commands: [TeamCommand] = []
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Substring(rawLine).trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            commands.append(try parse(String(line), maxLine: maxLine))
        }
        return commands
    }
}
