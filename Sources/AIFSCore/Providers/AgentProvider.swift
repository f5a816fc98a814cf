/// An agent socket's model: its own program answers, through `inbox` and `outbox`
/// (``AgentInbox``); the reply then goes where the message's reply belongs (`output`, a team
/// round, a `chat` descriptor), as any model's does.
public struct AgentProvider: Provider {
    public init() {}

    public func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
        guard let inbox = request.inbox else { throw ProviderError("an agent answers only its own socket's messages") }
        let reply = try await inbox.deliver(request.message)
        sink.text(reply)
    }
}
