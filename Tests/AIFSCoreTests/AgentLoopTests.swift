@testable import AIFSCore
import FuseKit
import Foundation
import Testing

/// The agent loop in-process: a socket whose model (an HTTP provider against the in-process
/// fake server, streaming tool calls as the vendors do) calls `bash`; the daemon runs it and
/// sends the result back; the model answers.
@Suite("agent loop, in-process", .serialized)
struct AgentLoopTests {
    func socket(_ server: FakeModelServer, _ dialect: HTTPModelProvider.Dialect) throws -> Socket {
        var settings = HTTPModelProvider.Settings(name: "fake", dialect: dialect,
                                                  baseURL: dialect == .openai ? server.baseURL + "/v1" : server.baseURL, apiKey: nil)
        settings.retry = RetryPolicy(maxAttempts: 1, baseDelay: 0.05, maxDelay: 1)
        let catalog = ModelCatalog(modelIDs: ["fake/m"], defaultModel: "fake/m",
                                   providers: ["fake": HTTPModelProvider(settings: settings)])
        let registry = SocketRegistry(environment: SocketEnvironment(store: InMemoryStore(), catalog: catalog))
        let socket = try registry.create(name: FileName("agent"), uid: getuid(), gid: getgid(), mode: 0o755)
        try socket.apply([.set(.tools, "bash"), .set(.workdir, NSTemporaryDirectory())])
        return socket
    }

    func transcript(_ socket: Socket) -> String { socket.state.withLock { String(decoding: $0.transcript, as: UTF8.self) } }

    @Test("OpenAI and Anthropic: two calls in one round (arguments over several chunks, after some text), both run, both results go back; then the answer")
    func twoCallsOneRound() async throws {
        for dialect in [HTTPModelProvider.Dialect.openai, .anthropic] { try await HTTPProviderTests().withServer { server in
            let calls = [FakeToolCall(id: "c1", name: "bash", arguments: #"{"command":"echo one"}"#, chunks: 5),
                         FakeToolCall(id: "c2", name: "bash", arguments: #"{"command":"echo two"}"#, chunks: 2)]
            server.enqueue(dialect == .openai ? .openAIToolCalls(calls, text: ["Let me ", "check. "]) : .anthropicToolCalls(calls, text: ["Let me ", "check. "]),
                           dialect == .openai ? .openAI(tokens: ["Both ", "ran."]) : .anthropic(tokens: ["Both ", "ran."]))
            let socket = try socket(server, dialect)
            #expect(await SocketTestSupport.submit(socket, "run two things") == nil)
            try await SocketTestSupport.idle(socket)
            let text = transcript(socket)
            #expect(text.contains("[tool-call 1.1 bash]") && text.contains("[tool-call 1.2 bash]"), "\(dialect): \(text)")
            #expect(text.contains("[tool-result 1.1 exit 0]") && text.contains("[tool-result 1.2 exit 0]"), "\(dialect): \(text)")
            #expect(text.hasSuffix("Let me check. Both ran.\n"), "\(dialect): the reply is all the model said: \(text)")
            let requests = server.requests
            #expect(requests.count == 2)
            let messages = try #require(requests.last?.messages)
            if dialect == .openai {
                let results = messages.filter { $0["role"] as? String == "tool" }
                #expect(results.map { $0["tool_call_id"] as? String } == ["c1", "c2"])
                #expect(results.map { $0["content"] as? String } == ["one\n", "two\n"])
                let assistant = messages.first { $0["tool_calls"] != nil }
                #expect(assistant?["content"] as? String == "Let me check. ")
            } else {
                let last = try #require(messages.last?["content"] as? [[String: Any]])
                #expect(last.map { $0["tool_use_id"] as? String } == ["c1", "c2"])
                #expect(last.map { $0["content"] as? String } == ["one\n", "two\n"])
            }
            // /ai/events has each call and its result.
            var reader = EventReader(caller: Caller(uid: 0, gid: 0))
            let lines = EventLogTests.readAll(socket.environment.events, &reader).split(separator: 0x0A)
            let steps = try lines.map { try EventLogTests.object($0) }.filter { ($0["type"] as? String ?? "").hasPrefix("tool_") }
                .map { "\($0["type"]!) \($0["call"]!) \($0["tool"] as? String ?? $0["status"] as? String ?? "")" }
            #expect(steps == ["tool_call 1.1 bash", "tool_call 1.2 bash", "tool_result 1.1 exit 0", "tool_result 1.2 exit 0"]
                    || steps == ["tool_call 1.1 bash", "tool_result 1.1 exit 0", "tool_call 1.2 bash", "tool_result 1.2 exit 0"], "\(dialect): \(steps)")
            // The context keeps the question and the whole reply, not the tool rounds.
            #expect(socket.state.withLock { $0.context.turns.count } == 2)
        } }
    }
}
