import FuseKit

/// `brain` (agent sockets): the agent's own model, as `chat` is a socket's (``ExchangeFile``).
/// What is written is one prompt, sent at the first read (or poll, or close) to the model
/// `[agents.NAME] model` names; its completion streams back on this descriptor, then end of
/// file. The daemon holds the API key; the agent never sees it. Nothing of it enters the
/// socket's conversation.
///
/// `write`: `EINVAL` once the prompt was sent, `EFBIG` past `[limits] message_bytes`. `read`:
/// `EAGAIN` with `O_NONBLOCK` while the completion is on its way, `EINTR` when interrupted,
/// `EIO` once after a failed request (the reason in `error`). Closing the descriptor early
/// cancels the request.
final class BrainFile: ExchangeFile {
    let provider: any Provider
    let model: String

    init(socket: Socket, provider: any Provider, model: String, limit: Int) {
        self.provider = provider
        self.model = model
        super.init(socket: socket, limit: limit)
    }

    override var oversize: (kind: String, what: String) { ("brain", "prompt") }

    override func send(_ prompt: [UInt8]) -> Errno? {
        let request = ProviderRequest(model: model, systemPrompt: [], history: [][...], message: prompt, settings: [:])
        let (provider, stream, socket) = (self.provider, self.stream, self.socket)
        started(Task.detached {
            do {
                try await provider.respond(to: request, into: StreamSink(stream: stream))
                stream.finish()
            } catch is CancellationError {
                stream.finish()
            } catch {
                socket.reportError(kind: "brain", "request failed: \(error)")
                stream.finish(failed: true)
            }
        })
        return nil
    }
}

/// A reply sink that streams text into a ``ChatStream`` (reasoning and usage are dropped).
struct StreamSink: ReplySink {
    let stream: ChatStream
    func text(_ bytes: [UInt8]) { stream.append(bytes) }
    func reasoning(_ bytes: [UInt8]) {}
    func usage(input: Int, output: Int) {}
    func toolCall(_ call: ToolCallRequest) {}
}
