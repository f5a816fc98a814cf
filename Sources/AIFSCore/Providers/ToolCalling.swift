import Foundation

/// A tool the model may call, as a provider offers it: its name, what it is for, and the JSON
/// schema of its arguments (JSON text of an object schema).
public struct ToolSpec: Sendable, Equatable {
    public var name: String
    public var description: String
    public var parameters: String

    public init(name: String, description: String, parameters: String) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// One call the model asked for: the vendor's call id, the tool, and its arguments exactly as
/// the model wrote them (JSON text, which may not be valid: the daemon checks it).
public struct ToolCallRequest: Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// What a tool answered to one call (`isError`: the call was refused, failed, or could not run).
public struct ToolCallResult: Sendable, Equatable {
    public var id: String
    public var content: String
    public var isError: Bool

    public init(id: String, content: String, isError: Bool) {
        self.id = id
        self.content = content
        self.isError = isError
    }
}

/// One round of the agent loop: what the model said and which tools it called, then what the
/// tools answered. A request carries every round of the message being answered, in order, and
/// each provider sends them in its vendor's shape (OpenAI `tool_calls` and `role: "tool"`
/// messages; Anthropic `tool_use` blocks and `tool_result` blocks in the next user turn).
public struct ToolRound: Sendable, Equatable {
    public var text: String
    public var calls: [ToolCallRequest]
    public var results: [ToolCallResult]

    public init(text: String, calls: [ToolCallRequest], results: [ToolCallResult]) {
        self.text = text
        self.calls = calls
        self.results = results
    }
}

/// Puts together the tool calls of one streamed reply from their fragments: both vendors send
/// a call's id and name first, then its arguments over many events, several calls told apart
/// by an index (OpenAI's `tool_calls[].index`, Anthropic's content block index).
struct ToolCallAssembler {
    private var calls: [Int: ToolCallRequest] = [:]

    var isEmpty: Bool { calls.isEmpty }

    /// Adds one fragment: the id and name when given, the arguments appended.
    mutating func add(index: Int, id: String?, name: String?, arguments: String) {
        var call = calls[index] ?? ToolCallRequest(id: "", name: "", arguments: "")
        if let id, !id.isEmpty { call.id = id }
        if let name, !name.isEmpty, call.name.isEmpty { call.name = name }
        call.arguments += arguments
        calls[index] = call
    }

    /// The calls in index order (a call whose arguments never came has `{}`); empties the assembler.
    mutating func take() -> [ToolCallRequest] {
        defer { calls = [:] }
        return calls.keys.sorted().enumerated().map { position, key in
            var call = calls[key]!
            if call.arguments.trimmingCharacters(in: .whitespaces).isEmpty { call.arguments = "{}" }
            if call.id.isEmpty { call.id = "call_\(position)" }
            return call
        }
    }
}

extension ToolSpec {
    /// The schema as a JSON value for a request body (an empty object schema if it does not parse).
    var schemaObject: Any {
        (try? JSONSerialization.jsonObject(with: Data(parameters.utf8))) ?? ["type": "object", "properties": [String: Any]()]
    }
}

extension ToolCallRequest {
    /// The arguments as a JSON object, for a vendor that sends them back as one (Anthropic's
    /// `input`); `{}` when they are not a JSON object.
    var argumentsObject: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(arguments.utf8))) as? [String: Any]) ?? [:]
    }
}
