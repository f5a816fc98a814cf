/// A kind of model backend: turns a conversation into a streamed reply.
///
/// `respond` streams the reply into `sink` as it arrives (never buffers the whole reply) and
/// returns when it is complete. It throws on failure (the socket reports it in `error` and
/// fails the reader with `EIO`), and stops promptly when its task is cancelled (`cancel`,
/// `reset`, `rmdir`, shutdown).
public protocol Provider: Sendable {
    func respond(to request: ProviderRequest, into sink: any ReplySink) async throws
}

/// What a provider is asked: the model (the part of `PROVIDER/MODEL` after the slash), the
/// system prompt, the conversation so far ending with the new user message, and the socket's
/// settings.
public struct ProviderRequest: Sendable {
    public var model: String
    public var systemPrompt: [UInt8]
    public var turns: [Turn]
    public var settings: [Setting: String]

    public init(model: String, systemPrompt: [UInt8], turns: [Turn], settings: [Setting: String]) {
        self.model = model
        self.systemPrompt = systemPrompt
        self.turns = turns
        self.settings = settings
    }

    /// The message being answered.
    public var latestUserMessage: [UInt8] { turns.last(where: { $0.role == .user })?.content ?? [] }
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
