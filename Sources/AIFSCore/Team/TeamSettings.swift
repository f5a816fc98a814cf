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
