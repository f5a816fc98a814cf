/// The body of one streamed reply, decoded as its bytes arrive: SSE framing (`SSEReader`), then
/// each event by the fast path for plain text deltas (`fastDecode`), else by the general decoder
/// (`OpenAIFormat`, `AnthropicFormat`); what one push decoded reaches the sink as one piece per
/// run of a kind (`ReplyBatch`).
///
/// Failures are thrown as the provider reports them: malformed data and error events as
/// ``ProviderError``, an overload reported before any text as a ``RetryableFailure``, and a body
/// that ends before the reply is complete as a ``RetryableFailure``.
struct StreamDecoder {
    private var reader = SSEReader()
    private var events: Events

    /// The stream said the reply is complete (OpenAI's `[DONE]`, Anthropic's `message_stop`).
    var finished: Bool { events.finished }

    init(dialect: HTTPModelProvider.Dialect, name: String, sink: any ReplySink, streamed: StreamProgress,
         redact: @escaping @Sendable (String) -> String) {
        events = Events(dialect: dialect, name: name, redact: redact, streamed: streamed, batch: ReplyBatch(sink))
    }

    /// Decodes one network read; what it completed reaches the sink before this returns, even
    /// when it throws.
    mutating func push(_ bytes: UnsafeRawBufferPointer) throws {
        // The reader is held locally (moved, not copied) while its events mutate `events`.
        var reader = SSEReader()
        swap(&reader, &self.reader)
        defer {
            swap(&reader, &self.reader)
            events.batch.flush()
        }
        try reader.push(bytes) { try events.handle($0) }
    }

    /// The end of the body: the event it ended in, if any; then whether the reply was complete.
    mutating func finish() throws {
        if !events.finished {
            var reader = SSEReader()
            swap(&reader, &self.reader)
            defer {
                swap(&reader, &self.reader)
                events.batch.flush()
            }
            try reader.finish { try events.handle($0) }
        }
        guard events.finished else { throw RetryableFailure(message: "the stream ended before the reply was complete") }
    }

    /// What handling an event reads and changes.
    private struct Events {
        let dialect: HTTPModelProvider.Dialect
        let name: String
        let redact: @Sendable (String) -> String
        let streamed: StreamProgress
        var batch: ReplyBatch
        var marked = false
        var finished = false {
            didSet { if finished, !oldValue { flushToolCalls() } }
        }
        var toolCalls = ToolCallAssembler()

        /// At the end of the reply, its tool calls, whole, after its text.
        private mutating func flushToolCalls() {
            guard !toolCalls.isEmpty else { return }
            batch.flush()
            for call in toolCalls.take() { batch.toolCall(call) }
        }

        /// The common events take the fast path (straight from the bytes to the sink); the
        /// rest, and any the fast path is not sure of, the general decoder.
        mutating func handle(_ event: SSEFields) throws {
            let fast = event.data.withUnsafeBufferPointer { data in
                switch dialect {
                case .openai: OpenAIFormat.fastDecode(data)
                case .anthropic: AnthropicFormat.fastDecode(data)
                }
            }
            guard let fast else { return try handleDecoded(event.event) }
            if !fast.reasoning.isEmpty { batch.reasoning(fast.reasoning) }
            if !fast.text.isEmpty {
                markStreamed()
                batch.text(fast.text)
            }
            if fast.done { finished = true }
        }

        private mutating func markStreamed() {
            guard !marked else { return }
            streamed.mark()
            marked = true
        }

        private mutating func handleDecoded(_ event: SSEEvent) throws {
            let deltas: [StreamDelta]
            do {
                switch dialect {
                case .openai: deltas = try OpenAIFormat.decode(event)
                case .anthropic: deltas = try AnthropicFormat.decode(event)
                }
            } catch {
                throw ProviderError("\(name): malformed stream data: \(redact("\(error)"))")
            }
            for delta in deltas {
                switch delta {
                case .text(let text):
                    guard !text.isEmpty else { continue }
                    markStreamed()
                    batch.text(Array(text.utf8))
                case .reasoning(let text):
                    batch.reasoning(Array(text.utf8))
                case .usage(let input, let output):
                    batch.usage(input: input, output: output)
                case .done:
                    finished = true
                case .cut(let how):
                    batch.diagnostic(kind: "request", "the reply is cut: the model stopped at its token limit (max-tokens; \(how))")
                case .toolCall(let index, let callID, let callName, let arguments):
                    // Calls reach the sink only when the reply is complete, so a stream that
                    // breaks in the middle of one may still be retried.
                    toolCalls.add(index: index, id: callID, name: callName, arguments: arguments)
                case .error(let message):
                    if !streamed.any, HTTPModelProvider.looksTransient(message) {
                        throw RetryableFailure(message: "error in the stream: \(redact(message))")
                    }
                    throw ProviderError("\(name): error in the stream: \(redact(message))")
                }
            }
        }
    }
}
