import FuseKit

/// The body files of an agent socket (`inbox`, `outbox`, `brain`, `network`; see `docs/agents.md`).
extension AIFileSystem {
    /// Opens one of them. `ENOENT` on a socket that is not (or no longer) an agent's.
    func openAgentFile(_ request: consuming Request, _ socket: Socket, _ file: SocketFile, caller: Caller) {
        guard socket.isAgent else { return request.reply(error: .ENOENT) }
        let limits = environment.limits
        switch file {
        case .inbox:
            request.reply(open: InboxFile(inbox: socket.agentInbox), options: [.directIO, .nonSeekable])
        case .outbox:
            request.reply(open: OutboxFile(socket: socket, limit: limits.maxReplyBytes), options: [.directIO, .nonSeekable])
        case .brain:
            let agent = socket.agentName.flatMap(environment.agents.config(named:))
            guard let model = agent?.model else {
                socket.reportError(kind: "brain", "[agents.\(socket.agentName ?? "?")] names no model")
                return request.reply(error: .EINVAL)
            }
            guard let (provider, name) = environment.catalog().resolve(model) else {
                socket.reportError(kind: "brain", "model '\(model)' is not configured")
                return request.reply(error: .EINVAL)
            }
            request.reply(open: BrainFile(socket: socket, provider: provider, model: name, limit: limits.maxMessageBytes),
                          options: [.directIO, .nonSeekable])
        case .network:
            guard let agent = socket.agentName.flatMap(environment.agents.config(named:)) else {
                return request.reply(error: .ENOENT)
            }
            request.reply(open: NetworkFile(socket: socket, config: agent, limiter: environment.agents.network),
                          options: [.directIO, .nonSeekable])
        default:
            request.reply(error: .ENOENT)
        }
    }
}
