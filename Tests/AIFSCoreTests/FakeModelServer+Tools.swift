import Foundation

/// One tool call a ``FakeResponse/openAIToolCalls(_:text:)`` or
/// ``FakeResponse/anthropicToolCalls(_:text:)`` stream makes.
struct FakeToolCall: Sendable {
    /// The call's id (`call_…` for OpenAI, `toolu_…` for Anthropic, by convention).
    var id: String
    var name: String
    /// The arguments text, sent as it is: it may be invalid JSON on purpose.
    var arguments: String
    /// How many pieces the arguments are split over (at least one, if there are any).
    var chunks: Int

    init(id: String, name: String, arguments: String, chunks: Int = 3) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.chunks = chunks
    }

    /// The arguments in `chunks` pieces of nearly equal length (whole characters); none if empty.
    var pieces: [String] {
        let characters = Array(arguments)
        guard !characters.isEmpty else { return [] }
        let count = max(1, min(chunks, characters.count))
        let size = (characters.count + count - 1) / count
        return stride(from: 0, to: characters.count, by: size).map { String(characters[$0..<min($0 + size, characters.count)]) }
    }
}

extension FakeResponse {
    /// The OpenAI SSE events of a round of tool calls, as the API streams them: text tokens
    /// first if any; per call a chunk with `index`, `id`, `type`, `function.name` and empty
    /// `arguments` (the first chunk of the message also `role: "assistant"`, `content: null`),
    /// then the argument pieces by `index` alone; `finish_reason: "tool_calls"`, usage, `[DONE]`.
    static func openAIToolEvents(_ calls: [FakeToolCall], text: [String] = []) -> [String] {
        func chunk(_ delta: String, finish: String = "null") -> String {
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":\(delta),\"logprobs\":null,\"finish_reason\":\(finish)}]}\n\n"
        }
        var events: [String] = []
        if !text.isEmpty {
            events.append(chunk("{\"role\":\"assistant\",\"content\":\"\"}"))
            events += text.map { chunk("{\"content\":\(jsonString($0))}") }
        }
        for (index, call) in calls.enumerated() {
            let role = events.isEmpty ? "\"role\":\"assistant\",\"content\":null," : ""
            events.append(chunk("{\(role)\"tool_calls\":[{\"index\":\(index),\"id\":\(jsonString(call.id)),\"type\":\"function\",\"function\":{\"name\":\(jsonString(call.name)),\"arguments\":\"\"}}]}"))
            events += call.pieces.map { chunk("{\"tool_calls\":[{\"index\":\(index),\"function\":{\"arguments\":\(jsonString($0))}}]}") }
        }
        events.append(chunk("{}", finish: "\"tool_calls\""))
        let completion = text.count + 10 * calls.count
        events.append("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":\(completion),\"total_tokens\":\(3 + completion)}}\n\n")
        events.append("data: [DONE]\n\n")
        return events
    }

    /// The Anthropic SSE events of a round of tool calls, as the API streams them:
    /// `message_start`, a text block first if any, per call a `tool_use` block (`input: {}`)
    /// whose input comes as `input_json_delta` events (the first one empty), then
    /// `message_delta` with `stop_reason: "tool_use"` and `message_stop`.
    static func anthropicToolEvents(_ calls: [FakeToolCall], text: [String] = []) -> [String] {
        func event(_ name: String, _ data: String) -> String { "event: \(name)\ndata: \(data)\n\n" }
        var events = [
            event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"fake\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}"),
        ]
        var index = 0
        if !text.isEmpty {
            events.append(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"))
            events.append(event("ping", "{\"type\":\"ping\"}"))
            events += text.map { event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\(jsonString($0))}}") }
            events.append(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"))
            index = 1
        }
        for call in calls {
            events.append(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":\(index),\"content_block\":{\"type\":\"tool_use\",\"id\":\(jsonString(call.id)),\"name\":\(jsonString(call.name)),\"input\":{}}}"))
            events += ([""] + call.pieces).map {
                event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":\(index),\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\(jsonString($0))}}")
            }
            events.append(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":\(index)}"))
            index += 1
        }
        events.append(event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":\(text.count + 10 * calls.count)}}"))
        events.append(event("message_stop", "{\"type\":\"message_stop\"}"))
        return events
    }
}

extension FakeRequest {
    /// The body as text, whole, as the server received it.
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    /// The request's `messages`, as sent (tool calls and tool results in their wire shape).
    var messages: [[String: Any]] { json["messages"] as? [[String: Any]] ?? [] }
}
