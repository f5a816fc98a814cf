import FuseKit

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
