import FuseKit

/// `network` (agent sockets): what is written is one HTTP request as JSON, sent at the first
/// read (or poll, or close); its JSON response is read back on this descriptor, then end of
/// file (``NetworkGateway``). A request that is refused — bad JSON, a field missing or wrong,
/// a body over `network_max_bytes`, a URL that does not parse, not in `network_allow`, over
/// `network_rate` — is answered by a response whose `error` says why, and nothing is sent.
///
/// `write`: `EINVAL` once the request was sent, `EFBIG` past `network_max_bytes` plus 64 KiB
/// of JSON. `read`: `EAGAIN` with `O_NONBLOCK` while the response is on its way, `EINTR` when
/// interrupted. Closing the descriptor early cancels the request.
final class NetworkFile: ExchangeFile {
    let config: AgentConfig
    let limiter: NetworkLimiter

    init(socket: Socket, config: AgentConfig, limiter: NetworkLimiter) {
        self.config = config
        self.limiter = limiter
        super.init(socket: socket, limit: config.networkMaxBytes + 64 * 1024)
    }

    override var oversize: (kind: String, what: String) { ("network", "request") }

    /// An empty request is answered too: with a JSON error saying it is not JSON.
    override var sendsEmpty: Bool { true }

    /// Checks the request and performs it; a refused one is answered with the reason. Never an
    /// errno: every answer is a JSON response.
    override func send(_ bytes: [UInt8]) -> Errno? {
        let checked: NetworkGateway.Checked
        switch NetworkGateway.check(bytes, config: config) {
        case .failure(let refusal):
            refuse(refusal)
            return nil
        case .success(let request): checked = request
        }
        guard limiter.admit(socket.id, count: config.networkRate, period: config.networkPeriod) else {
            let period = config.networkPeriod == 1 ? "s" : config.networkPeriod == 60 ? "min" : "h"
            refuse(NetworkGateway.Refusal(id: checked.id, "refused: over network_rate (\(config.networkRate)/\(period))"))
            return nil
        }
        let (stream, socket, maxBytes) = (self.stream, self.socket, config.networkMaxBytes)
        started(Task.detached {
            let (response, status, error) = await NetworkGateway.perform(checked, maxBytes: maxBytes)
            socket.postNetworkNote("network \(checked.method) \(checked.url.prefix(300)) -> \(status)" + (error.map { ": \($0)" } ?? ""))
            if let error { socket.reportError(kind: "network", "\(checked.method) \(checked.url.prefix(300)): \(error)") }
            stream.append(response)
            stream.finish()
        })
        return nil
    }

    private func refuse(_ refusal: NetworkGateway.Refusal) {
        socket.reportError(kind: "network", refusal.reason)
        socket.postNetworkNote("network request not sent: \(refusal.reason)")
        stream.append(refusal.response)
        stream.finish()
    }
}

extension Socket {
    /// Posts a line of the agent's network use (``Change/network(socket:text:)``), so that
    /// every daemon's transcript and memory get it, at the time it was posted.
    func postNetworkNote(_ text: String) {
        environment.log.post(.network(socket: id, text: text), done: nil)
    }

    /// Applies a line of the agent's network use: in the transcript (`[network] TIME`) and in
    /// memory (searchable, kept like the socket's events).
    func noteNetwork(_ text: String) {
        state.withLock { s in
            let entry = transcriptEntry(header: "[network] \(WallClock.iso8601(WallClock.now()))", body: Array(text.utf8))
            appendTranscriptLocked(&s, entry, record: false)
            recordLocked(s, [.transcriptAppended(id, entry), memoryEvent(s, .event, text)])
        }
    }
}
