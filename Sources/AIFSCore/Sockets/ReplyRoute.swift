/// Where the reply to a queued message goes.
///
/// - `output`: the socket's own `output`, or, when the socket is wired (`wire NAME`) at the
///   moment the request starts, the input of the socket it is wired to.
/// - `chat`: the private stream of one open `chat` descriptor (never stored).
/// - `team`: `team-chat-all/output`, as one whole block once the reply is complete.
/// - `compaction`: nobody's: the reply is the summary of a compaction (never queued or stored).
public enum ReplyRoute: Sendable {
    case output
    case chat(ChatStream)
    case team(TeamTicket)
    case compaction

    /// The reply lands in `output` (or follows the wire): what `output` readers wait for.
    var isOutput: Bool {
        if case .output = self { return true }
        return false
    }

    var chat: ChatStream? {
        if case .chat(let chat) = self { return chat }
        return nil
    }

    var team: TeamTicket? {
        if case .team(let ticket) = self { return ticket }
        return nil
    }

    /// How the store keeps the route of a queued message ("" or `team:ROUND[:synthesis]`);
    /// chat messages are never stored.
    var storedForm: String {
        guard case .team(let ticket) = self else { return "" }
        return "team:\(ticket.round)" + (ticket.synthesis ? ":synthesis" : "")
    }

    /// The route a stored message had; a team route comes back without its `TeamChat`, which
    /// the registry attaches when it restores the socket.
    static func fromStored(_ text: String) -> ReplyRoute {
        let parts = text.split(separator: ":")
        guard parts.count >= 2, parts[0] == "team", let round = UInt64(parts[1]) else { return .output }
        return .team(TeamTicket(round: round, synthesis: parts.count > 2 && parts[2] == "synthesis", team: nil))
    }
}

/// A member's place in one team-chat round: which round, and whether this is the moderator's
/// synthesis rather than a member's answer.
public struct TeamTicket: Sendable {
    public let round: UInt64
    public let synthesis: Bool
    /// The team chat to report to; nil only between loading the store and restoring the socket.
    let team: TeamChat?

    init(round: UInt64, synthesis: Bool, team: TeamChat?) {
        self.round = round
        self.synthesis = synthesis
        self.team = team
    }
}

/// How a team member's request ended, as the team chat reports it.
enum TeamOutcome {
    case reply([UInt8])
    case failed(String)
    case cancelled(String)
}
