@testable import AIFSCore
import Foundation
import Synchronization
import Testing

/// The OpenAI and Anthropic providers against the in-process fake server: streaming, every
/// fault, retries, timeouts.
@Suite("HTTP providers", .serialized)
struct HTTPProviderTests {
    func provider(_ server: FakeModelServer, _ dialect: HTTPModelProvider.Dialect, key: String? = "sk-test-secret",
                  configure: (inout HTTPModelProvider.Settings) -> Void = { _ in }) -> HTTPModelProvider {
        var settings = HTTPModelProvider.Settings(name: dialect == .openai ? "fakeai" : "fakeclaude", dialect: dialect,
                                                  baseURL: dialect == .openai ? server.baseURL + "/v1" : server.baseURL, apiKey: key)
        settings.retry = RetryPolicy(maxAttempts: 3, baseDelay: 0.05, maxDelay: 1)
        settings.idleTimeout = 10  // generous: a loaded machine must not turn a slow token into a retry
        settings.timeout = 20
        configure(&settings)
        return HTTPModelProvider(settings: settings)
    }

    func request(_ text: String = "hello", system: String = "") -> ProviderRequest {
        ProviderRequest(model: "m1", systemPrompt: Array(system.utf8), turns: [Turn(role: .user, content: Array(text.utf8))],
                        settings: [.temperature: "0.5"])
    }

    func withServer(_ body: (FakeModelServer) async throws -> Void) async throws {
        let server = try await FakeModelServer.start()
        do { try await body(server) } catch { try? await server.stop(); throw error }
        try await server.stop()
    }

    /// The failure message of a request that must fail.
    func failure(_ provider: HTTPModelProvider, _ sink: RecordingSink = RecordingSink()) async -> String {
        do {
            try await provider.respond(to: request(), into: sink)
            return "no failure"
        } catch {
            return "\(error)"
        }
    }

    @Test("OpenAI: streams text, reasoning and usage; sends the right request")
    func openAIStream() async throws {
        try await withServer { server in
            server.enqueue(.openAI(tokens: ["Hel", "lo ", "wörld"], reasoning: ["thinking…"]))
            let sink = RecordingSink()
            try await provider(server, .openai).respond(to: request("hi", system: "be brief"), into: sink)
            #expect(sink.textString == "Hello wörld")
            #expect(sink.reasoningString == "thinking…")
            #expect(sink.usageTotals == (3, 3))
            let sent = try #require(server.requests.first)
            #expect(sent.path == "/v1/chat/completions")
            #expect(sent.header("authorization") == "Bearer sk-test-secret")
            #expect(sent.json["stream"] as? Bool == true && sent.json["model"] as? String == "m1")
            #expect(sent.json["temperature"] as? Double == 0.5)
            let messages = sent.json["messages"] as? [[String: String]]
            #expect(messages == [["role": "system", "content": "be brief"], ["role": "user", "content": "hi"]])
        }
    }

    @Test("Anthropic: streams text and thinking, ignores unknown events, sends x-api-key and anthropic-version")
    func anthropicStream() async throws {
        try await withServer { server in
            server.enqueue(.anthropic(tokens: ["Bon", "jour"], thinking: ["hmm"]))
            let sink = RecordingSink()
            try await provider(server, .anthropic).respond(to: request("salut", system: "sois bref"), into: sink)
            #expect(sink.textString == "Bonjour")
            #expect(sink.reasoningString == "hmm")
            #expect(sink.usageTotals == (4, 2))
            let sent = try #require(server.requests.first)
            #expect(sent.path == "/v1/messages")
            #expect(sent.header("x-api-key") == "sk-test-secret")
            #expect(sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.json["system"] as? String == "sois bref" && sent.json["max_tokens"] as? Int == 1024)
        }
    }

    @Test("SSE framing split at arbitrary byte boundaries gives the same reply")
    func splitFraming() async throws {
        try await withServer { server in
            for dialect in [HTTPModelProvider.Dialect.openai, .anthropic] {
                let events = dialect == .openai ? FakeResponse.openAIEvents(tokens: ["a", "é", "日本", "\n", "z"])
                                                : FakeResponse.anthropicEvents(tokens: ["a", "é", "日本", "\n", "z"])
                let bytes = Array(events.joined().utf8)
                var chunks: [[UInt8]] = []
                var index = 0
                var rng = SystemRandomNumberGenerator()
                while index < bytes.count {
                    let size = Int.random(in: 1...7, using: &rng)
                    chunks.append(Array(bytes[index..<min(bytes.count, index + size)]))
                    index += size
                }
                server.enqueue(.raw(status: 200, headers: [("content-type", "text/event-stream")], chunks: chunks, chunkDelay: .zero))
                let sink = RecordingSink()
                try await provider(server, dialect).respond(to: request(), into: sink)
                #expect(sink.textString == "aé日本\nz", "\(dialect)")
            }
        }
    }

    /// The fast path takes the common events and declines the rest to the general decoder; one
    /// stream mixing both, cut into small chunks, must read as if one decoder had read it all.
    @Test("events the fast path takes and events it declines mix in one stream")
    func fastAndGeneralMix() async throws {
        try await withServer { server in
            func chunk(_ delta: String) -> String { "data: {\"choices\":[{\"index\":0,\"delta\":\(delta)}]}\n\n" }
            let openAI = [chunk("{\"role\":\"assistant\",\"content\":\"\"}"), chunk("{\"content\":\"a\\n\\u00e9\"}"),
                          chunk("{\"con\\u0074ent\":\"b\"}"),  // declined: an escaped key
                          chunk("{\"reasoning_content\":\"r\",\"content\":\"c\"}"),
                          chunk("{\"content\":\"d\",\"tool_calls\":[]}"),  // declined: tool calls
                          "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":5}}\n\n",
                          ": keep-alive\r\ndata: [DONE]\r\n\r\n"]
            func event(_ name: String, _ data: String) -> String { "event: \(name)\ndata: \(data)\n\n" }
            let anthropic = [event("message_start", "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":2}}}"),
                             event("content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"r\"}}"),
                             event("content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"a\\n\\u00e9\"}}"),
                             event("content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"b\"},\"x\":[]}"),
                             event("ping", "{\"type\":\"ping\"}"),
                             event("content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"cd\"}}"),
                             event("message_delta", "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}"),
                             event("message_stop", "{\"type\":\"message_stop\"}")]
            for dialect in [HTTPModelProvider.Dialect.openai, .anthropic] {
                let bytes = Array((dialect == .openai ? openAI : anthropic).joined().utf8)
                let chunks = stride(from: 0, to: bytes.count, by: 5).map { Array(bytes[$0..<min(bytes.count, $0 + 5)]) }
                server.enqueue(.raw(status: 200, headers: [("content-type", "text/event-stream")], chunks: chunks, chunkDelay: .zero))
                let sink = RecordingSink()
                try await provider(server, dialect).respond(to: request(), into: sink)
                #expect(sink.textString == "a\nébcd" && sink.reasoningString == "r", "\(dialect)")
                #expect(sink.usageTotals == (2, 5), "\(dialect)")
            }
        }
    }

    @Test("tokens reach the sink as they arrive, not all at the end")
    func streamsAsItArrives() async throws {
        try await withServer { server in
            // No latency measured here (the mounted test and the benchmarks do that), and no race
            // with time: the server sends the first token and holds the rest until the sink has
            // it, so the first token must arrive while the stream is still open.
            let tokens = (0..<10).map { "t\($0) " }
            let gate = FakeGate()
            server.enqueue(.gated(.openAI(tokens: tokens, tokenDelay: .milliseconds(50)), after: 2, gate: gate))  // role, t0
            let sink = RecordingSink()
            let finished = Flag()
            let http = provider(server, .openai)
            let question = request()
            let reply = Task {
                defer { finished.set() }
                try await http.respond(to: question, into: sink)
            }
            try await SocketTestSupport.eventually("the first token reaches the sink") { sink.chunks > 0 }
            #expect(sink.textString == "t0 " && !finished.isSet, "the first token arrived before the rest was sent")
            gate.open()
            try await reply.value
            #expect(sink.textString == tokens.joined())
            // The gated first token alone; the other nine in as many pieces as reads brought
            // them (tokens that arrive together are one piece, see `oneReadOnePiece`).
            #expect(sink.arrivals.count >= 2 && sink.arrivals.count <= 10, "\(sink.arrivals.count) pieces")
        }
    }

    @Test("the tokens of one network read reach the sink as one piece, in order, kinds kept apart")
    func oneReadOnePiece() async throws {
        try await withServer { server in
            // 40 tokens and their usage in one write: one read, or a few if the connection splits
            // it, never one piece per token.
            let tokens = (0..<40).map { "w\($0) " }
            let events = FakeResponse.openAIEvents(tokens: tokens, reasoning: ["think ", "more "])
            server.enqueue(.raw(status: 200, headers: [("content-type", "text/event-stream")],
                                chunks: [Array(events.joined().utf8)], chunkDelay: .zero))
            let sink = RecordingSink()
            try await provider(server, .openai).respond(to: request(), into: sink)
            #expect(sink.textString == tokens.joined() && sink.reasoningString == "think more ")
            #expect(sink.chunks >= 1 && sink.chunks < 10, "\(sink.chunks) pieces for 40 tokens")
            #expect(sink.usageTotals == (3, 40))
        }
    }

    @Test("ReplyBatch: runs of one kind become one piece; a change of kind or usage forwards what is held first")
    func replyBatchKeepsOrder() {
        final class Log: ReplySink, @unchecked Sendable {
            let entries = Mutex<[String]>([])
            func text(_ bytes: [UInt8]) { entries.withLock { $0.append("text:" + String(decoding: bytes, as: UTF8.self)) } }
            func reasoning(_ bytes: [UInt8]) { entries.withLock { $0.append("think:" + String(decoding: bytes, as: UTF8.self)) } }
            func usage(input: Int, output: Int) { entries.withLock { $0.append("usage:\(input),\(output)") } }
            func toolCall(_ call: ToolCallRequest) { entries.withLock { $0.append("call:" + call.name) } }
        }
        let log = Log()
        var batch = ReplyBatch(log)
        batch.reasoning(Array("r1 ".utf8)); batch.reasoning(Array("r2".utf8))
        batch.text(Array("a".utf8)); batch.text([]); batch.text(Array("b".utf8))
        batch.usage(input: 1, output: 2)
        batch.text(Array("c".utf8))
        #expect(log.entries.withLock { $0 } == ["think:r1 r2", "text:ab", "usage:1,2"], "c is held until the flush")
        batch.flush(); batch.flush()
        #expect(log.entries.withLock { $0 } == ["think:r1 r2", "text:ab", "usage:1,2", "text:c"])
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    @Test("a reply the server cut at max_tokens ends normally, and a diagnostic says it was cut")
    func cutAtTheTokenLimit() async throws {
        try await withServer { server in
            let sse = [("content-type", "text/event-stream")]
            server.enqueue(.raw(status: 200, headers: sse, chunks: [
                Array("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi-level\"},\"finish_reason\":null}]}\n\n".utf8),
                Array("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n".utf8),
            ], chunkDelay: .zero))
            let sink = RecordingSink()
            try await provider(server, .openai).respond(to: request(), into: sink)
            #expect(sink.textString == "Hi-level")
            #expect(sink.diagnostics == ["request the reply is cut: the model stopped at its token limit (max-tokens; finish_reason length)"])
        }
    }

    @Test("401, 403, 400 and 404 fail at once with the server's message, no retry")
    func finalStatuses() async throws {
        try await withServer { server in
            for code in [401, 403, 400, 404] {
                server.enqueue(.status(code, body: "{\"error\":{\"message\":\"invalid api key\",\"type\":\"auth\"}}"))
                let message = await failure(provider(server, .openai))
                #expect(message == "fakeai: HTTP \(code): invalid api key")
            }
            #expect(server.requests.count == 4)
        }
    }

    @Test("429 with retry-after, 500, 529 are retried (each retry reported), then succeed")
    func retries() async throws {
        try await withServer { server in
            server.enqueue(.status(429, headers: [("retry-after", "0.1")], body: "{\"error\":{\"message\":\"slow down\"}}"),
                           .status(529, body: "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"),
                           .anthropic(tokens: ["finally"]))
            let sink = RecordingSink()
            try await provider(server, .anthropic).respond(to: request(), into: sink)
            #expect(sink.textString == "finally")
            #expect(sink.diagnostics.count == 2)
            #expect(sink.diagnostics.first == "provider fakeclaude: HTTP 429: slow down; retry 1 of 2 in 0.1s")
            #expect(sink.diagnostics.last?.hasPrefix("provider fakeclaude: HTTP 529: Overloaded; retry 2 of 2 in ") == true)
            server.enqueue(.status(500, body: "boom"), .status(502, body: ""), .status(503, body: "{\"error\":{\"message\":\"down\"}}"))
            let message = await failure(provider(server, .openai))
            #expect(message == "fakeai: HTTP 503: down (gave up after 3 attempts)")
        }
    }

    @Test("retry-after-ms wins over retry-after")
    func retryAfterMs() async throws {
        try await withServer { server in
            server.enqueue(.status(429, headers: [("retry-after-ms", "50"), ("retry-after", "30")], body: "{}"), .openAI(tokens: ["ok"]))
            let sink = RecordingSink()
            // The diagnostic names the delay that was chosen; how long the retry then took is
            // the machine's business, not the test's.
            try await provider(server, .openai).respond(to: request(), into: sink)
            #expect(sink.diagnostics.first?.hasSuffix("retry 1 of 2 in 0.1s") == true || sink.diagnostics.first?.hasSuffix("in 0.0s") == true,
                    "\(sink.diagnostics)")
        }
    }

    @Test("a stream cut before any text is retried; cut after text fails; malformed data and error events fail")
    func brokenStreams() async throws {
        try await withServer { server in
            server.enqueue(.cutStream(afterTokens: 0, openAI: true), .openAI(tokens: ["second try"]))
            let sink = RecordingSink()
            try await provider(server, .openai).respond(to: request(), into: sink)
            #expect(sink.textString == "second try")

            server.enqueue(.cutStream(afterTokens: 3, openAI: false))
            let partial = RecordingSink()
            let cut = await failure(provider(server, .anthropic), partial)
            // The break is seen as a broken connection, an early end or (on a loaded machine) the
            // idle timeout; what matters is that it fails and says text had already gone out.
            #expect(cut.hasPrefix("fakeclaude: ") && cut.hasSuffix(" after part of the reply was streamed"), "\(cut)")
            #expect(partial.textString == "t0 t1 t2 ")

            server.enqueue(.malformed(openAI: true))
            #expect(await failure(provider(server, .openai)).hasPrefix("fakeai: malformed stream data: not a JSON object"))

            server.enqueue(.errorEvent(openAI: true, message: "context length exceeded"))
            #expect(await failure(provider(server, .openai)) == "fakeai: error in the stream: server_error: context length exceeded")

            server.enqueue(.errorEvent(openAI: false, message: "Overloaded"), .errorEvent(openAI: false, message: "Overloaded"),
                           .errorEvent(openAI: false, message: "Overloaded"))
            #expect(await failure(provider(server, .anthropic))
                    == "fakeclaude: error in the stream: overloaded_error: Overloaded (gave up after 3 attempts)")
        }
    }

    @Test("idle timeout between chunks, total timeout, and an unreachable server")
    func timeouts() async throws {
        try await withServer { server in
            // Streams that stop and never go on (gates never opened): the timeouts are the only
            // way these requests end, however slow the machine.
            let silent = FakeResponse.gated(.openAI(tokens: ["a", "b"]), after: 1, gate: FakeGate())  // the role chunk, no text
            server.enqueue(silent, silent, silent)
            let idle = await failure(provider(server, .openai) { $0.idleTimeout = 0.3 })
            #expect(idle == "fakeai: no data for 0.3s (idle timeout) (gave up after 3 attempts)")
            // Some text, then silence: the total timeout (0.5 s) ends it long before the idle one (10 s).
            server.enqueue(.gated(.openAI(tokens: (0..<50).map { "\($0) " }), after: 4, gate: FakeGate()))
            let total = await failure(provider(server, .openai) { $0.timeout = 0.5 })
            #expect(total == "fakeai: no complete reply within 0.5s (timeout)")
        }
        let closed = HTTPModelProvider(settings: {
            var s = HTTPModelProvider.Settings(name: "nowhere", dialect: .openai, baseURL: "http://127.0.0.1:9/v1", apiKey: nil)
            s.retry = RetryPolicy(maxAttempts: 2, baseDelay: 0.01, maxDelay: 0.05)
            s.idleTimeout = 1  // AsyncHTTPClient keeps trying to connect for this long, then says why it could not
            return s
        }())
        let message = await failure(closed)
        #expect(message.hasPrefix("nowhere: cannot reach http://127.0.0.1:9/v1/chat/completions: "), "\(message)")
        #expect(message.lowercased().contains("connection refused"), "\(message)")
        #expect(message.hasSuffix("(gave up after 2 attempts)"))
    }

    @Test("the API key appears in no error message")
    func keyNeverInMessages() async throws {
        try await withServer { server in
            server.enqueue(.status(401, body: "{\"error\":{\"message\":\"bad key\"}}"))
            let message = await failure(provider(server, .anthropic, key: "sk-ant-SECRET-123"))
            #expect(!message.contains("SECRET"))
        }
    }

    @Test("a server that echoes the key in an error body or a stream error is redacted")
    func echoedKeyRedacted() async throws {
        try await withServer { server in
            server.enqueue(.status(401, body: "{\"error\":{\"message\":\"Incorrect API key provided: sk-ant-SECRET-123.\"}}"))
            let message = await failure(provider(server, .openai, key: "sk-ant-SECRET-123"))
            #expect(message == "fakeai: HTTP 401: Incorrect API key provided: [redacted].", "\(message)")
            server.enqueue(.errorEvent(openAI: true, message: "key sk-ant-SECRET-123 is revoked"))
            let streamed = await failure(provider(server, .openai, key: "sk-ant-SECRET-123"))
            #expect(!streamed.contains("SECRET") && streamed.contains("key [redacted] is revoked"), "\(streamed)")
        }
    }
}
