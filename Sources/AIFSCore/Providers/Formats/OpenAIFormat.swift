import Foundation

/// The OpenAI Chat Completions streaming format (also Ollama's, vLLM's, llama.cpp's, LM
/// Studio's and OpenRouter's `/v1`): `data: {chunk}` events ending with `data: [DONE]`.
///
/// A chunk's `choices[0].delta.content` is text; `delta.reasoning_content` (DeepSeek, vLLM) or
/// `delta.reasoning` (Ollama) is reasoning; a chunk with `usage` (sent last when
/// `stream_options.include_usage` is on) gives token counts; `finish_reason: "length"` means the
/// reply was cut at the token limit; `{"error": {...}}` is an error, also inside a 200 stream.
public enum OpenAIFormat {
    public static func decode(_ event: SSEEvent) throws(FormatError) -> [StreamDelta] {
        let data = event.data.trimmingCharacters(in: .whitespaces)
        if data == "[DONE]" { return [.done] }
        let object = try FormatError.object(data)
        if let error = object["error"] {
            if let error = error as? [String: Any] {
                let message = (error["message"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "unknown error"
                if let type = error["type"] as? String ?? error["code"] as? String { return [.error("\(type): \(message)")] }
                return [.error(message)]
            }
            let message = "\(error)"
            return [.error(message.isEmpty ? "unknown error" : message)]
        }
        var deltas: [StreamDelta] = []
        if let choices = object["choices"] as? [[String: Any]], let delta = choices.first?["delta"] as? [String: Any] {
            if let reasoning = delta["reasoning_content"] as? String ?? delta["reasoning"] as? String, !reasoning.isEmpty {
                deltas.append(.reasoning(reasoning))
            }
            if let content = delta["content"] as? String, !content.isEmpty { deltas.append(.text(content)) }
            for call in delta["tool_calls"] as? [[String: Any]] ?? [] {
                let function = call["function"] as? [String: Any]
                deltas.append(.toolCall(index: call["index"] as? Int ?? 0, id: call["id"] as? String, name: function?["name"] as? String,
                                        arguments: function?["arguments"] as? String ?? ""))
            }
        }
        if let choices = object["choices"] as? [[String: Any]], choices.first?["finish_reason"] as? String == "length" {
            deltas.append(.cut("finish_reason length"))
        }
        if let usage = object["usage"] as? [String: Any] {
            deltas.append(.usage(input: StreamDelta.tokens(usage["prompt_tokens"] as? Int ?? 0),
                                 output: StreamDelta.tokens(usage["completion_tokens"] as? Int ?? 0)))
        }
        return deltas
    }

    /// `{"model", "messages": [system?, turns…, tool rounds…], "stream": true, "stream_options": {"include_usage": true}, "tools"?, …}`.
    ///
    /// Each tool round is an assistant message with `tool_calls` (`{id, type: "function",
    /// function: {name, arguments}}`, the arguments as the model wrote them), then one
    /// `role: "tool"` message per call with its `tool_call_id`.
    public static func requestBody(model: String, system: String, turns: [(role: String, content: String)],
                                   temperature: Double?, maxTokens: Int?, topP: Double?,
                                   tools: [ToolSpec] = [], rounds: [ToolRound] = []) -> [UInt8] {
        var messages: [[String: Any]] = []
        if !system.isEmpty { messages.append(["role": "system", "content": system]) }
        for turn in turns { messages.append(["role": turn.role, "content": turn.content]) }
        for round in rounds {
            let calls: [[String: Any]] = round.calls.map {
                ["id": $0.id, "type": "function", "function": ["name": $0.name, "arguments": $0.arguments]]
            }
            messages.append(["role": "assistant", "content": round.text.isEmpty ? NSNull() : round.text as Any, "tool_calls": calls])
            for result in round.results { messages.append(["role": "tool", "tool_call_id": result.id, "content": result.content]) }
        }
        var body: [String: Any] = ["model": model, "messages": messages, "stream": true,
                                   "stream_options": ["include_usage": true]]
        if !tools.isEmpty {
            body["tools"] = tools.map { ["type": "function", "function": ["name": $0.name, "description": $0.description,
                                                                          "parameters": $0.schemaObject]] }
        }
        if let temperature { body["temperature"] = temperature }
        if let maxTokens { body["max_tokens"] = maxTokens }
        if let topP { body["top_p"] = topP }
        return jsonBytes(body)
    }
}
