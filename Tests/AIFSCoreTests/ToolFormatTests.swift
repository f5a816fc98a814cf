@testable import AIFSCore
import Foundation
import Synchronization
import Testing

/// Tool calling in the two HTTP formats: streamed calls put together from their fragments, and
/// the tool rounds sent back in each vendor's shape.
@Suite("tool calls in the provider formats")
struct ToolFormatTests {
    /// Collects text and tool calls.
    final class CallSink: ReplySink, Sendable {
        private let state = Mutex<(text: String, calls: [ToolCallRequest], order: [String])>(("", [], []))
        func text(_ bytes: [UInt8]) { state.withLock { $0.text += String(decoding: bytes, as: UTF8.self); $0.order.append("text") } }
        func reasoning(_ bytes: [UInt8]) {}
        func usage(input: Int, output: Int) {}
        func toolCall(_ call: ToolCallRequest) { state.withLock { $0.calls.append(call); $0.order.append("call") } }
        var text: String { state.withLock { $0.text } }
        var calls: [ToolCallRequest] { state.withLock { $0.calls } }
        var order: [String] { state.withLock { $0.order } }
    }

    /// Decodes `events` (SSE text) as one body, `pieces` bytes per network read.
    func decode(_ dialect: HTTPModelProvider.Dialect, _ events: [String], pieces: Int = 7) throws -> CallSink {
        let sink = CallSink()
        var decoder = StreamDecoder(dialect: dialect, name: "t", sink: sink, streamed: StreamProgress(), redact: { $0 })
        let bytes = Array(events.joined().utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + pieces)
            try Array(bytes[start..<end]).withUnsafeBytes { try decoder.push($0) }
            start = end
        }
        try decoder.finish()
        return sink
    }

    @Test("OpenAI: two calls by index, id and name first, the arguments over many chunks, after the text")
    func openAIStream() throws {
        func chunk(_ delta: String, finish: String = "null") -> String {
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":\(delta),\"finish_reason\":\(finish)}]}\n\n"
        }
        let events = [
            chunk("{\"role\":\"assistant\",\"content\":\"Let me look.\"}"),
            chunk("{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"bash\",\"arguments\":\"\"}}]}"),
            chunk("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"comm\"}}]}"),
            chunk("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"and\\\": \\\"echo hi\\\"}\"}}]}"),
            chunk("{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"{\\\"path\\\":\"}}]}"),
            chunk("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"\\\"/etc/hostname\\\"}\"}}]}"),
            chunk("{}", finish: "\"tool_calls\""),
            "data: [DONE]\n\n",
        ]
        for pieces in [1, 7, 4096] {
            let sink = try decode(.openai, events, pieces: pieces)
            #expect(sink.text == "Let me look.")
            #expect(sink.calls == [ToolCallRequest(id: "call_a", name: "bash", arguments: "{\"command\": \"echo hi\"}"),
                                   ToolCallRequest(id: "call_b", name: "read", arguments: "{\"path\":\"/etc/hostname\"}")])
            #expect(sink.order == ["text", "call", "call"])
        }
    }

    @Test("Anthropic: tool_use blocks with input_json_delta pieces, after a text block")
    func anthropicStream() throws {
        func event(_ type: String, _ data: String) -> String { "event: \(type)\ndata: \(data)\n\n" }
        let events = [
            event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}"),
            event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
            event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"On it.\"}}"),
            event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
            event("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"bash\",\"input\":{}}}"),
            event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}"),
            event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\": \\\"ec\"}}"),
            event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ho hi\\\"}\"}}"),
            event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"),
            event("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"list\",\"input\":{}}}"),
            event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}"),
            event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}"),
            event("message_stop", "{\"type\":\"message_stop\"}"),
        ]
        for pieces in [1, 13, 4096] {
            let sink = try decode(.anthropic, events, pieces: pieces)
            #expect(sink.text == "On it.")
            // A call whose arguments never came has {}.
            #expect(sink.calls == [ToolCallRequest(id: "toolu_1", name: "bash", arguments: "{\"command\": \"echo hi\"}"),
                                   ToolCallRequest(id: "toolu_2", name: "list", arguments: "{}")])
        }
    }

    @Test("a stream that breaks inside a call delivers no call (the request may be retried)")
    func brokenStream() throws {
        let events = ["data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x\",\"function\":{\"name\":\"bash\",\"arguments\":\"{\"}}]}}]}\n\n"]
        let sink = CallSink()
        var decoder = StreamDecoder(dialect: .openai, name: "t", sink: sink, streamed: StreamProgress(), redact: { $0 })
        try Array(events.joined().utf8).withUnsafeBytes { try decoder.push($0) }
        #expect(throws: RetryableFailure.self) { try decoder.finish() }
        #expect(sink.calls.isEmpty)
    }

    static let round = ToolRound(text: "", calls: [ToolCallRequest(id: "call_1", name: "bash", arguments: "{\"command\":\"echo hi\"}"),
                                                   ToolCallRequest(id: "call_2", name: "read", arguments: "not json")],
                                 results: [ToolCallResult(id: "call_1", content: "hi\n", isError: false),
                                           ToolCallResult(id: "call_2", content: "bad arguments", isError: true)])
    static let tools = [ToolSpec(name: "bash", description: "run", parameters: "{\"properties\":{\"command\":{\"type\":\"string\"}},\"type\":\"object\"}")]

    func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("OpenAI: tools as functions; a round as an assistant message with tool_calls, then one tool message per call")
    func openAIRequest() throws {
        let body = try json(OpenAIFormat.requestBody(model: "m", system: "s", turns: [("user", "q")], temperature: nil, maxTokens: nil,
                                                     topP: nil, tools: Self.tools, rounds: [Self.round]))
        let tools = try #require(body["tools"] as? [[String: Any]])
        #expect(tools.count == 1 && tools[0]["type"] as? String == "function")
        let function = try #require(tools[0]["function"] as? [String: Any])
        #expect(function["name"] as? String == "bash" && function["description"] as? String == "run")
        #expect((function["parameters"] as? [String: Any])?["type"] as? String == "object")
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["system", "user", "assistant", "tool", "tool"])
        #expect(messages[2]["content"] is NSNull)
        let calls = try #require(messages[2]["tool_calls"] as? [[String: Any]])
        #expect(calls.map { $0["id"] as? String } == ["call_1", "call_2"])
        #expect(calls.allSatisfy { $0["type"] as? String == "function" })
        // The arguments go back exactly as the model wrote them, valid JSON or not.
        #expect(calls.map { ($0["function"] as? [String: Any])?["arguments"] as? String } == ["{\"command\":\"echo hi\"}", "not json"])
        #expect(messages[3]["tool_call_id"] as? String == "call_1" && messages[3]["content"] as? String == "hi\n")
        #expect(messages[4]["tool_call_id"] as? String == "call_2")
    }

    @Test("Anthropic: tools with input_schema; a round as tool_use blocks, then a user turn of tool_result blocks")
    func anthropicRequest() throws {
        let body = try json(AnthropicFormat.requestBody(model: "m", system: "s", turns: [("user", "q")], maxTokens: 100, temperature: nil,
                                                        topP: nil, tools: Self.tools, rounds: [Self.round]))
        let tools = try #require(body["tools"] as? [[String: Any]])
        #expect(tools[0]["name"] as? String == "bash" && (tools[0]["input_schema"] as? [String: Any])?["type"] as? String == "object")
        let messages = try #require(body["messages"] as? [[String: Any]])
        #expect(messages.map { $0["role"] as? String } == ["user", "assistant", "user"])
        let uses = try #require(messages[1]["content"] as? [[String: Any]])
        #expect(uses.map { $0["type"] as? String } == ["tool_use", "tool_use"])
        #expect((uses[0]["input"] as? [String: String]) == ["command": "echo hi"])
        #expect((uses[1]["input"] as? [String: Any])?.isEmpty == true)  // not JSON: {}
        let results = try #require(messages[2]["content"] as? [[String: Any]])
        #expect(results.map { $0["tool_use_id"] as? String } == ["call_1", "call_2"])
        #expect(results[0]["is_error"] == nil && results[1]["is_error"] as? Bool == true)
        #expect(results[0]["content"] as? String == "hi\n")
    }

    @Test("without tools the bodies carry no tools key")
    func noTools() throws {
        #expect(try json(OpenAIFormat.requestBody(model: "m", system: "", turns: [("user", "q")], temperature: nil, maxTokens: nil, topP: nil))["tools"] == nil)
        #expect(try json(AnthropicFormat.requestBody(model: "m", system: "", turns: [("user", "q")], maxTokens: 9, temperature: nil, topP: nil))["tools"] == nil)
    }
}
