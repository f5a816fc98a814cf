/// What one event of a model's stream means for the reply.
public enum StreamDelta: Equatable, Sendable {
    case text(String)
    case reasoning(String)
    case usage(input: Int, output: Int)
    /// The reply is complete.
    case done
    /// The server stopped at the token limit (`max-tokens`), so the reply is cut short; the
    /// text says how the server put it (`finish_reason length`, `stop_reason max_tokens`).
    case cut(String)
    /// The server reported an error inside the stream.
    case error(String)
    /// A fragment of a tool call: the call at `index` (OpenAI's `tool_calls[].index`,
    /// Anthropic's content block), its id and name when this fragment gives them, and a piece
    /// of its arguments' JSON text.
    case toolCall(index: Int, id: String?, name: String?, arguments: String)

    /// A token count as the server sent it, if it is one: a whole number from 0 to 2^32, else 0.
    /// A socket adds these up; a negative one made its totals negative, which trapped when a
    /// snapshot encoded them, and a huge one overflowed the sum.
    static func tokens(_ count: Int) -> Int { (0...(1 << 32)).contains(count) ? count : 0 }
}

/// Stream data that does not follow its format (e.g. `data:` that is not JSON).
public struct FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

import Foundation

extension FormatError {
    /// Parses an event's data as a JSON object.
    ///
    /// Foundation's parser drops a raw U+FEFF at the start of a string or right after an escape
    /// (as if it were a byte order mark), so reply text would lose it; written as `\uFEFF` it is
    /// kept. Outside a string U+FEFF is not JSON either way, but a leading one is skipped as before.
    static func object(_ data: String) throws(FormatError) -> [String: Any] {
        var json = data
        if data.unicodeScalars.dropFirst().contains("\u{FEFF}") {
            json = String(data.unicodeScalars.prefix(1))
            for scalar in data.unicodeScalars.dropFirst() {
                if scalar == "\u{FEFF}" { json += "\\uFEFF" } else { json.unicodeScalars.append(scalar) }
            }
        }
        guard let bytes = json.data(using: .utf8),
              let value = try? JSONSerialization.jsonObject(with: bytes),
              let object = value as? [String: Any] else {
            throw FormatError("not a JSON object: \(data.prefix(80))")
        }
        return object
    }
}

/// Serializes a request body (sorted keys, so bodies are stable and testable).
func jsonBytes(_ object: [String: Any]) -> [UInt8] {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    return Array(data)
}
