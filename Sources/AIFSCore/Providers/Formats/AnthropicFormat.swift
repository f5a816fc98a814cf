import Foundation

/// The Anthropic Messages streaming format: typed events `message_start`, per content block
/// `content_block_start` → `content_block_delta` (`text_delta`, `thinking_delta`,
/// `signature_delta`, `input_json_delta`) → `content_block_stop`, then `message_delta` (stop
/// reason, output usage) and `message_stop`; `ping` at any time; `error` even after a 200.
/// Unknown event types are ignored, as the API asks. There is no `[DONE]`.
public enum AnthropicFormat {
    public static func decode(_ event: SSEEvent) throws(FormatError) -> [StreamDelta] {
        let object = try FormatError.object(event.data)
        let type = object["type"] as? String ?? event.event ?? ""
        switch type {
        case "message_start":
            // The prompt's tokens in all: those read from or written to the prompt cache are
            // not in `input_tokens`.
            let message = object["message"] as? [String: Any]
            let usage = message?["usage"] as? [String: Any]
            guard let input = usage?["input_tokens"] as? Int else { return [] }
            let cached = ["cache_read_input_tokens", "cache_creation_input_tokens"].map { StreamDelta.tokens(usage?[$0] as? Int ?? 0) }
            return [.usage(input: min(StreamDelta.tokens(input) + cached.reduce(0, +), 1 << 32), output: 0)]
        case "content_block_start":
            let block = object["content_block"] as? [String: Any]
            if block?["type"] as? String == "tool_use" {
                // `input` is `{}` here; the arguments come as `input_json_delta` pieces.
                return [.toolCall(index: object["index"] as? Int ?? 0, id: block?["id"] as? String, name: block?["name"] as? String,
                                  arguments: "")]
            }
            if let text = block?["text"] as? String, !text.isEmpty { return [.text(text)] }
            if let thinking = block?["thinking"] as? String, !thinking.isEmpty { return [.reasoning(thinking)] }
            return []
        case "content_block_delta":
            let delta = object["delta"] as? [String: Any] ?? [:]
            switch delta["type"] as? String {
            case "text_delta": return (delta["text"] as? String).map { $0.isEmpty ? [] : [.text($0)] } ?? []
            case "thinking_delta": return (delta["thinking"] as? String).map { $0.isEmpty ? [] : [.reasoning($0)] } ?? []
            case "input_json_delta":
                return [.toolCall(index: object["index"] as? Int ?? 0, id: nil, name: nil, arguments: delta["partial_json"] as? String ?? "")]
            default: return []
            }
        case "message_delta":
            var deltas: [StreamDelta] = []
            if let output = (object["usage"] as? [String: Any])?["output_tokens"] as? Int {
                deltas.append(.usage(input: 0, output: StreamDelta.tokens(output)))
            }
            if (object["delta"] as? [String: Any])?["stop_reason"] as? String == "max_tokens" {
                deltas.append(.cut("stop_reason max_tokens"))
            }
            return deltas
        case "message_stop":
            return [.done]
        case "error":
            let error = object["error"] as? [String: Any] ?? [:]
            let kind = error["type"] as? String ?? "error"
            return [.error("\(kind): \(error["message"] as? String ?? "unknown error")")]
        default:
            return []  // ping, content_block_stop, and event types added later
        }
    }

    /// `{"model", "max_tokens", "stream": true, "system"?, "messages": [...], "tools"?, …}`.
    ///
    /// Each tool round is an assistant turn of content blocks (its text, then one `tool_use`
    /// block `{id, name, input}` per call), then a user turn of `tool_result` blocks
    /// (`{tool_use_id, content, is_error?}`), one per call.
    public static func requestBody(model: String, system: String, turns: [(role: String, content: String)],
                                   maxTokens: Int, temperature: Double?, topP: Double?,
                                   tools: [ToolSpec] = [], rounds: [ToolRound] = []) -> [UInt8] {
        var messages: [[String: Any]] = turns.map { ["role": $0.role, "content": $0.content] }
        for round in rounds {
            var blocks: [[String: Any]] = round.text.isEmpty ? [] : [["type": "text", "text": round.text]]
            blocks += round.calls.map { ["type": "tool_use", "id": $0.id, "name": $0.name, "input": $0.argumentsObject] }
            messages.append(["role": "assistant", "content": blocks])
            messages.append(["role": "user", "content": round.results.map { result -> [String: Any] in
                var block: [String: Any] = ["type": "tool_result", "tool_use_id": result.id, "content": result.content]
                if result.isError { block["is_error"] = true }
                return block
            }])
        }
        var body: [String: Any] = ["model": model, "max_tokens": maxTokens, "stream": true, "messages": messages]
        if !tools.isEmpty {
            body["tools"] = tools.map { ["name": $0.name, "description": $0.description, "input_schema": $0.schemaObject] }
        }
        if !system.isEmpty { body["system"] = system }
        if let temperature { body["temperature"] = temperature }
        if let topP { body["top_p"] = topP }
        return jsonBytes(body)
    }
}
