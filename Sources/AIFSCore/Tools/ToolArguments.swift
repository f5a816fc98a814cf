import Foundation

/// Why a tool call cannot go ahead: bad arguments, or a bad pattern in the policy. The message
/// is one line, fit for the model (as the tool's result) and for `error`.
public struct ToolCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A tool call's arguments, checked.
///
/// The values handed out are Foundation-free Swift values: `String`, `Int` (a JSON number
/// without fraction or exponent that fits), `Double` (any other number), `Bool`,
/// `[any Sendable]`, `[String: any Sendable]`, and `NSNull` for `null`.
public enum ToolArguments {
    /// Parses `text` as a JSON object and checks it against `schema`: the subset of JSON schema
    /// with `type` (object at the top), `properties` (each with `type` string, integer, number,
    /// boolean, array or object; an integer also passes as a number), `required`, and
    /// `additionalProperties: false`. Anything else in the schema is ignored. The reasons:
    /// "arguments are not JSON: …", "arguments must be a JSON object", "missing required
    /// argument 'command'", "argument 'path' must be a string", "unknown argument 'x'".
    public static func check(_ text: String, schema: String) throws(ToolCallError) -> [String: any Sendable] {
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch { throw ToolCallError("arguments are not JSON: \(error.message)") }
        guard let arguments = value.object else { throw ToolCallError("arguments must be a JSON object") }
        let schemaObject = (try? JSONValue.parse(schema))?.object ?? [:]
        let properties = schemaObject["properties"]?.object ?? [:]
        if case .array(let required)? = schemaObject["required"] {
            for case .string(let name) in required where arguments[name] == nil {
                throw ToolCallError("missing required argument '\(name)'")
            }
        }
        for name in arguments.keys.sorted() {
            guard let property = properties[name]?.object else {
                if schemaObject["additionalProperties"] == .bool(false) { throw ToolCallError("unknown argument '\(name)'") }
                continue
            }
            guard case .string(let type)? = property["type"] else { continue }
            if !matches(arguments[name]!, type: type) {
                throw ToolCallError("argument '\(name)' must be \(type == "integer" || type == "array" || type == "object" ? "an" : "a") \(type)")
            }
        }
        return arguments.mapValues(\.sendable)
    }

    /// Whether `value` has the JSON schema `type`.
    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("integer", .int), ("number", .int), ("number", .double), ("boolean", .bool),
             ("array", .array), ("object", .object), ("null", .null): return true
        case ("integer", .double(let number)): return number == number.rounded() && abs(number) < 9e15
        default: return false
        }
    }

    /// For a `.command(argv)` tool: each `{name}` placeholder in argv is replaced by that
    /// argument (a string as is, anything else as its compact JSON text; a missing argument as
    /// the empty string). Placeholders may sit inside a word (`--file={path}`). If no element of
    /// argv holds a placeholder, the arguments' JSON text plus "\n" is the standard input and
    /// argv is returned unchanged; otherwise the standard input is empty.
    public static func commandLine(_ argv: [String], arguments: [String: any Sendable], json: String) -> (argv: [String], stdin: [UInt8]) {
        var substituted = false
        let result = argv.map { element -> String in
            let (text, replaced) = substitute(element, arguments)
            substituted = substituted || replaced
            return text
        }
        return substituted ? (result, []) : (argv, Array((json + "\n").utf8))
    }

    /// `element` with each `{name}` (name: letters, digits, `_`, `-`) replaced.
    static func substitute(_ element: String, _ arguments: [String: any Sendable]) -> (String, Bool) {
        var out = ""
        var replaced = false
        var rest = Substring(element)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}"),
                  case let name = after[..<close], !name.isEmpty,
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                out += "{"
                rest = after
                continue
            }
            replaced = true
            switch arguments[String(name)] {
            case nil: break
            case let text as String: out += text
            case let value?: out += JSONValue(value).text
            }
            rest = after[after.index(after: close)...]
        }
        return (out + rest, replaced)
    }
}
