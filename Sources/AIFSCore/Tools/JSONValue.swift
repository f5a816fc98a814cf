import Foundation

/// A JSON value, as the tool code parses and writes it: integers stay `Int` (a number with a
/// fraction or an exponent, or too large for `Int`, is a `Double`) and `true`/`false` are never
/// numbers, which `JSONSerialization` cannot promise. Written back compactly with sorted keys.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses one JSON text (RFC 8259; whitespace around it allowed). The error is one line.
    static func parse(_ text: String) throws(ToolCallError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.at == parser.bytes.count else { throw parser.failure("unexpected text after the value") }
        return value
    }

    /// Compact JSON text with sorted keys.
    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) + ".0" }
            return value.isFinite ? "\(value)" : "null"
        case .string(let value): return JSONText.string(value)
        case .array(let values): return "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { JSONText.string($0) + ":" + members[$0]!.text }.joined(separator: ",") + "}"
        }
    }

    /// The JSON schema type name of this value (`integer` for `.int`).
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// As ``ToolArguments`` hands values out: `String`, `Int`, `Double`, `Bool`,
    /// `[any Sendable]`, `[String: any Sendable]` or `NSNull`.
    var sendable: any Sendable {
        switch self {
        case .null: return NSNull()
        case .bool(let value): return value
        case .int(let value): return value
        case .double(let value): return value
        case .string(let value): return value
        case .array(let values): return values.map(\.sendable)
        case .object(let members): return members.mapValues(\.sendable)
        }
    }

    /// The inverse of ``sendable``; other values (which ``ToolArguments`` never produces) are
    /// written as their description, a string.
    init(_ value: any Sendable) {
        switch value {
        case is NSNull: self = .null
        case let value as Bool: self = .bool(value)
        case let value as Int: self = .int(value)
        case let value as Double: self = .double(value)
        case let value as String: self = .string(value)
        case let value as [any Sendable]: self = .array(value.map(JSONValue.init))
        case let value as [String: any Sendable]: self = .object(value.mapValues(JSONValue.init))
        default: self = .string("\(value)")
        }
    }

    var object: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}

/// The recursive-descent reader behind ``JSONValue/parse(_:)``.
private struct JSONParser {
    let bytes: [UInt8]
    var at = 0
    static let maxDepth = 64

    func failure(_ what: String) -> ToolCallError {
        ToolCallError("\(what) at byte \(at)")
    }

    mutating func skipWhitespace() {
        while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    mutating func value(depth: Int) throws(ToolCallError) -> JSONValue {
        guard depth < Self.maxDepth else { throw failure("nested more than \(Self.maxDepth) deep") }
        skipWhitespace()
        guard at < bytes.count else { throw failure("unexpected end") }
        switch bytes[at] {
        case UInt8(ascii: "{"):
            at += 1
            var members: [String: JSONValue] = [:]
            if take(UInt8(ascii: "}")) { return .object(members) }
            repeat {
                skipWhitespace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                let key = try string()
                guard take(UInt8(ascii: ":")) else { throw failure("expected ':'") }
                guard members[key] == nil else { throw failure("duplicate key '\(key)'") }
                members[key] = try value(depth: depth + 1)
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { throw failure("expected ',' or '}'") }
            return .object(members)
        case UInt8(ascii: "["):
            at += 1
            var values: [JSONValue] = []
            if take(UInt8(ascii: "]")) { return .array(values) }
            repeat { values.append(try value(depth: depth + 1)) } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "]")) else { throw failure("expected ',' or ']'") }
            return .array(values)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try number()
        }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws(ToolCallError) -> JSONValue {
        let utf8 = Array(word.utf8)
        guard bytes.count - at >= utf8.count, Array(bytes[at..<at + utf8.count]) == utf8 else { throw failure("unexpected character") }
        at += utf8.count
        return value
    }

    mutating func number() throws(ToolCallError) -> JSONValue {
        let start = at
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.at
            while parser.at < parser.bytes.count, (0x30...0x39).contains(parser.bytes[parser.at]) { parser.at += 1 }
            return parser.at - from
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
        let intStart = at
        guard digits(&self) > 0 else { at = start; throw failure("unexpected character") }
        if bytes[intStart] == UInt8(ascii: "0"), at - intStart > 1 { throw failure("a number with a leading zero") }
        var integral = true
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            integral = false
            guard digits(&self) > 0 else { throw failure("expected digits after '.'") }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            integral = false
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw failure("expected digits in the exponent") }
        }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        if integral, let value = Int(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw failure("number out of range") }
        return .double(value)
    }

    mutating func string() throws(ToolCallError) -> String {
        at += 1
        var out: [UInt8] = []
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw failure("invalid UTF-8 in a string") }
                return text
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { throw failure("unterminated string") }
                let escape = bytes[at]
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard take(UInt8(ascii: "\\")), at < bytes.count, bytes[at] == UInt8(ascii: "u") else { throw failure("lone surrogate") }
                        at += 1
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw failure("lone surrogate") }
                    out += Array(String(Character(unicode)).utf8)
                default: throw failure("invalid escape")
                }
            case 0..<0x20: throw failure("control character in a string")
            default: out.append(byte)
            }
        }
        throw failure("unterminated string")
    }

    mutating func hex4() throws(ToolCallError) -> UInt32 {
        guard bytes.count - at >= 4, let value = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16) else {
            throw failure("invalid \\u escape")
        }
        at += 4
        return value
    }
}
