import FuseKit

/// One line written to `team-chat-all/ctl`, parsed by ``CommandTable`` (pure; every refusal is
/// `EINVAL`, and an unknown verb's refusal lists the verbs).
///
/// | command | effect |
/// | --- | --- |
/// | `mode fanout\|discuss\|race` | how rounds run (see ``TeamMode``) |
/// | `mode fallback A,B,C` | ask A, then B if A fails or times out, then C (names checked for syntax) |
/// | `moderator NAME` | NAME reads every reply and its synthesis comes last |
/// | `moderator none` | no moderator (also `-` or `off`) |
/// | `timeout SECONDS` | how long a round waits for its members, then for the synthesis |
public enum TeamCommand: LineCommand, Equatable {
    case mode(TeamMode)
    case moderator(String?)
    case timeout(Double)

    /// The verbs of `team-chat-all/ctl`, as in the table above.
    public static let commands = CommandTable<TeamCommand>(listsVerbs: true, [
        .init("mode \(TeamMode.usage)", arguments: 1...) { (args: CommandArguments) throws(ControlError) in
            .mode(try TeamMode.parse(args.words))
        },
        .init("moderator NAME|none", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            if ["none", "-", "off"].contains(args[0]) { return .moderator(nil) }
            if let problem = SocketName.problem(with: FileName(args[0])) { throw ControlError("moderator: \(problem)") }
            return .moderator(args[0])
        },
        .init("timeout SECONDS (above 0, at most 86400)", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            guard let seconds = Double(args[0]), seconds > 0, seconds <= 86_400 else { throw args.misuse }
            return .timeout(seconds)
        },
    ])
}
