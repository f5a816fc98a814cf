/// A kind of model backend: turns a conversation into a streamed reply.
///
/// `respond` streams the reply into `sink` as it arrives (never buffers the whole reply) and
/// returns when it is complete. It throws on failure (the socket reports it in `error` and
/// fails the reader with `EIO`), and stops promptly when its task is cancelled (`cancel`,
/// `reset`, `rmdir`, shutdown).
public protocol Provider: Sendable {
    func respond(to request: ProviderRequest, into sink: any ReplySink) async throws
    /// The context window of `model` in tokens, where the backend reports one (nil: unknown,
    /// `[sockets] context_tokens` applies).
    func contextTokens(model: String) -> Int?
    /// What the backend lists at `GET /v1/models`, for a provider that asks (nil: it does not).
    var modelListing: ModelListing? { get }
}

extension Provider {
    public func contextTokens(model: String) -> Int? { nil }
    public var modelListing: ModelListing? { nil }
}

/// A provider that can answer some requests at once, on the calling thread, waiting for
/// nothing (the built-in echo model). The daemon asks it on the FUSE loop thread, so such a
/// reply needs no other thread at all.
public protocol ImmediateProvider: Provider {
    /// Answers `request` into `sink` now and returns true; or returns false at once, having
    /// sent nothing, when the request must go to ``Provider/respond(to:into:)`` in a task.
    func respondImmediately(to request: ProviderRequest, into sink: any ReplySink) -> Bool
}

/// What a provider is asked: the model (the part of `PROVIDER/MODEL` after the slash), the
/// system prompt, the conversation so far, the new user message, and the socket's settings.
///
/// The history is a view of the socket's own context (no turn is copied to build a request),
/// already merged so that roles alternate and it ends with an assistant turn or is empty; a
/// provider that sends the conversation reads ``turns``, one that does not (echo) never pays
/// for it.
public struct ProviderRequest: Sendable {
    public var model: String
    public var systemPrompt: [UInt8]
    /// The turns before the message, oldest first.
    public var history: ArraySlice<Turn>
    /// The user message being answered.
    public var message: [UInt8]
    public var settings: [Setting: String]
    /// The tools the model may call (none: a plain request).
    public var tools: [ToolSpec] = []
    /// The tool rounds of this message so far: after the message, the provider sends each
    /// round's calls and their results, in its vendor's shape.
    public var toolRounds: [ToolRound] = []
    /// The asking socket's inbox, where an agent socket's program reads the message
    /// (``AgentProvider``); nil for a request that does not come from a socket.
    var inbox: AgentInbox?

    public init(model: String, systemPrompt: [UInt8], history: ArraySlice<Turn>, message: [UInt8],
                settings: [Setting: String]) {
        self.model = model
        self.systemPrompt = systemPrompt
        self.history = history
        self.message = message
        self.settings = settings
    }

    /// A request from a whole conversation ending with the user message (turns as given).
    public init(model: String, systemPrompt: [UInt8], turns: [Turn], settings: [Setting: String]) {
        let endsWithUser = turns.last?.role == .user
        self.init(model: model, systemPrompt: systemPrompt, history: endsWithUser ? turns.dropLast() : turns[...],
                  message: endsWithUser ? turns[turns.count - 1].content : [], settings: settings)
    }

    /// The whole conversation ending with the new user message (a copy: for providers that send it).
    public var turns: [Turn] { Array(history) + [Turn(role: .user, content: message)] }

    /// The message being answered.
    public var latestUserMessage: [UInt8] { message }
}

/// One turn of a conversation.
public struct Turn: Sendable, Equatable {
    public enum Role: String, Sendable { case user, assistant }
    public var role: Role
    public var content: [UInt8]
    public init(role: Role, content: [UInt8]) {
        self.role = role
        self.content = content
    }
}

/// Where a provider streams its reply. Calls may come from any thread, in order.
public protocol ReplySink: Sendable {
    /// Reply text, as it arrives.
    func text(_ bytes: [UInt8])
    /// Reasoning ("thinking") text, if the model sends any.
    func reasoning(_ bytes: [UInt8])
    /// Token usage as the provider reports it.
    func usage(input: Int, output: Int)
    /// Something the user should know that is not reply text (a retry, a program's stderr
    /// line): a line `TIME KIND message` in the socket's `error`.
    func diagnostic(kind: String, _ message: String)
    /// The model asks for a tool: one call, whole (its arguments put together), after the
    /// reply's text and before it ends. No default: a sink that wraps another must pass it on.
    func toolCall(_ call: ToolCallRequest)
}

extension ReplySink {
    public func diagnostic(kind: String, _ message: String) {}
}

/// A failure a provider reports; `kind` is the first word of its `error` line.
public struct ProviderError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
