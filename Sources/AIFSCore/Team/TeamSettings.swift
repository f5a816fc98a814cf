import FuseKit

/// How the team chat runs a round.
public enum TeamMode: Sendable, Equatable {
    /// Each addressed socket answers on its own.
    case fanout
    /// As fanout, and when the round ends every member's context also gets the other members'
    /// replies, attributed (`[team-chat-from-NAME]`), so the next round is a discussion.
    case discuss
    /// Every addressed socket is asked at once; the first complete answer wins and the other
    /// members' requests are cancelled ("lost the race to NAME").
    case race
    /// The named sockets are asked one at a time, in this order: the next only when the one
    /// before failed, was refused, was skipped or ran past the round's timeout. The first
    /// answer ends the round.
    case fallback([String])

    /// The modes as `ctl` usage lists them.
    public static let usage = "fanout|discuss|race|fallback A,B,C"

    /// As `ctl` shows it and the store keeps it: `fanout`, `discuss`, `race`, `fallback A,B,C`.
    public var text: String {
        switch self {
        case .fanout: return "fanout"
        case .discuss: return "discuss"
        case .race: return "race"
        case .fallback(let names): return "fallback " + names.joined(separator: ",")
        }
    }

    /// The mode `text` names (the form ``text`` gives), or nil.
    public init?(text: String) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let mode = try? Self.parse(words) else { return nil }
        self = mode
    }

    /// The mode of the words after `mode` on a ctl line. `fallback` takes one word of socket
    /// names joined by commas: each must be a valid socket name (``SocketName``), and none may
    /// come twice. Whether the sockets exist is seen when a round asks them.
    static func parse(_ words: [String]) throws(ControlError) -> TeamMode {
        let misuse = ControlError("usage: mode \(usage)")
        switch words.first {
        case "fanout" where words.count == 1: return .fanout
        case "discuss" where words.count == 1: return .discuss
        case "race" where words.count == 1: return .race
        case "fallback":
            guard words.count == 2 else {
                throw ControlError(words.count == 1 ? "mode fallback: name the sockets to ask, in order (mode fallback A,B,C)"
                                                    : "mode fallback: one word of names joined by commas, no spaces (mode fallback A,B,C)")
            }
            let names = words[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var seen: Set<String> = []
            for name in names {
                if let problem = SocketName.problem(with: FileName(name)) {
                    throw ControlError("mode fallback: '\(name.prefix(64))': \(problem)")
                }
                guard seen.insert(name).inserted else { throw ControlError("mode fallback: \(name) is named twice") }
            }
            return .fallback(names)
        default:
            throw misuse
        }
    }

    /// Whether a moderator's synthesis follows the members' answers. Not in `race` or
    /// `fallback`: such a round has one answer, and a synthesis of one answer would only add a
    /// request and its wait.
    var asksModerator: Bool {
        switch self {
        case .fanout, .discuss: return true
        case .race, .fallback: return false
        }
    }
}

/// What `team-chat-all/ctl` sets: the mode, the moderator and the round timeout.
public struct TeamSettings: Sendable, Equatable {
    public var mode: TeamMode = .fanout
    /// The socket that reads every reply and answers last with a synthesis.
    public var moderator: String?
    /// Seconds a round waits for its members (and then for the synthesis). In `fallback` mode
    /// each member in turn gets this long.
    public var timeout: Double = TeamSettings.defaultTimeout

    public static let defaultTimeout = 300.0

    public init(mode: TeamMode = .fanout, moderator: String? = nil, timeout: Double = TeamSettings.defaultTimeout) {
        self.mode = mode
        self.moderator = moderator
        self.timeout = timeout
    }

    /// As the store keeps them: key → text. `mode` is ``TeamMode/text`` (`fanout`, `discuss`,
    /// `race`, `fallback A,B,C`), so the values older versions stored still read the same.
    var stored: [String: String] {
        ["mode": mode.text, "moderator": moderator ?? "", "timeout": "\(timeout)"]
    }

    /// From the stored form; a value this version cannot read gives the default.
    init(stored: [String: String]) {
        mode = stored["mode"].flatMap(TeamMode.init(text:)) ?? .fanout
        moderator = stored["moderator"].flatMap { $0.isEmpty ? nil : $0 }
        timeout = stored["timeout"].flatMap(Double.init) ?? Self.defaultTimeout
    }
}
