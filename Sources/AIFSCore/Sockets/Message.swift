import FuseKit

/// A message accepted from `input` (or `chat`, `team-chat-all/input`, a wire), as it is queued.
public struct InputMessage: Sendable {
    public var id: UInt64
    /// The message without its leading headers.
    public var content: [UInt8]
    public var headers: MessageHeaders
    public var uid: UInt32
    public var time: Double
    /// Where its reply goes: `output` (or down the wire), a `chat` descriptor, or the team chat.
    public var route: ReplyRoute
    /// Where its exact bytes are in the socket's transcript (set when it is accepted; not kept
    /// by the store, so nil for a message queued before a restart).
    var transcriptSpan: Range<Int>?

    public init(id: UInt64, content: [UInt8], headers: MessageHeaders, uid: UInt32, time: Double, route: ReplyRoute = .output) {
        self.id = id
        self.content = content
        self.headers = headers
        self.uid = uid
        self.time = time
        self.route = route
    }

    /// Set for a message written to `chat`: its reply goes to that descriptor only, and the
    /// message is not kept in the store's queue (the descriptor does not survive a restart).
    public var chat: ChatStream? { route.chat }
}

/// Where a message came from: it decides the transcript header and the memory entry.
enum MessageOrigin {
    /// The socket's own `input`.
    case input
    /// A `chat` descriptor.
    case chat
    /// `team-chat-all/input`: to every active socket, or to the ones named in headers.
    case team(broadcast: Bool)
    /// The moderator's synthesis request at the end of a team-chat round.
    case synthesis
    /// A finished reply of the socket wired into this one.
    case wire(from: String)
}


extension MessageOrigin {
    /// The `KIND` of `error` lines about this message.
    var kind: String {
        switch self {
        case .input: return "input"
        case .chat: return "chat"
        case .team, .synthesis: return "team"
        case .wire: return "wire"
        }
    }

    /// The transcript header line of the message (`docs/file-protocol.md`, "`transcript`").
    func transcriptHeader(socket: String, _ message: InputMessage) -> String {
        var tokens: [String]
        switch self {
        case .input: tokens = ["[team-chat-to-\(socket)]"]
        case .chat: tokens = ["[team-chat-to-\(socket)]", "[chat]"]
        case .team(let broadcast): tokens = [broadcast ? "[broadcast]" : "[team-chat-to-\(socket)]"]
        case .synthesis: tokens = ["[team-chat-to-\(socket)]", "[synthesis]"]
        case .wire(let source): tokens = ["[team-chat-to-\(socket)]", "[team-chat-from-\(source)]"]
        }
        if message.headers.priorityHigh { tokens.append("[priority-high]") }
        tokens.append(WallClock.iso8601(message.time))
        if case .wire = self {} else { tokens.append("uid=\(message.uid)") }
        tokens.append("id=\(message.id)")
        if let ticket = message.route.team { tokens.append("round=\(ticket.round)") }
        return tokens.joined(separator: " ")
    }

    /// The metadata of the message's memory entry; nil where the team chat keeps one entry for
    /// the whole round instead of one per member.
    func memoryMetadata(_ message: InputMessage) -> [String: String]? {
        var metadata = ["message": "\(message.id)", "uid": "\(message.uid)"]
        if message.headers.priorityHigh { metadata["priority"] = "high" }
        switch self {
        case .input: break
        case .chat: metadata["via"] = "chat"
        case .team: return nil
        case .synthesis: metadata["via"] = "synthesis"
        case .wire(let source): metadata["via"] = "wire from \(source)"
        }
        return metadata
    }
}
