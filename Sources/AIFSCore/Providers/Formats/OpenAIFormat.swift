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

    /// `{"model", "messages": [system?, turns…], "stream": true, "stream_options": {"include_usage": true}, …}`.
    public static func requestBody(model: String, system: String, turns: [(role: String, content: String)],
                                   temperature: Double?, maxTokens: Int?, topP: Double?) -> [UInt8] {
        var messages: [[String: Any]] = []
        if !system.isEmpty { messages.append(["role": "system", "content": system]) }
        for turn in turns { messages.append(["role": turn.role, "content": turn.content]) }
        var body: [String: Any] = ["model": model, "messages": messages, "stream": true,
                                   "stream_options": ["include_usage": true]]
        if let temperature { body["temperature"] = temperature }
        if let maxTokens { body["max_tokens"] = maxTokens }
        if let topP { body["top_p"] = topP }
        return jsonBytes(body)
    }
}
