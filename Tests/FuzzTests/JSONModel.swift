import Foundation

/// A JSON value the fuzzers make, write out in many styles, and compare with what
/// `JSONSerialization` reads back.
indirect enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    // MARK: Making values

    /// Text of random unicode scalars: ASCII, the zoo (combining marks, emoji, NUL, controls),
    /// and any scalar of the BMP or the astral planes (never a surrogate).
    static func text(_ r: inout SplitMix, maxCount: Int = 16) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<r.length(max: maxCount) {
            switch r.int(below: 10) {
            case 0..<5: s.append(UnicodeScalar(UInt8(r.int(0x20...0x7E))))
            case 5..<7: s.append(contentsOf: String(decoding: r.pick(Zoo.text), as: UTF8.self).unicodeScalars)
            case 7: s.append(UnicodeScalar(UInt8(r.int(0...0x1F))))
            default:
                var value = UInt32(r.int(below: 0x11_0000))
                if (0xD800...0xDFFF).contains(value) { value = 0xFFFD }
                s.append(UnicodeScalar(value)!)
            }
        }
        return String(s)
    }

    static func random(_ r: inout SplitMix, depth: Int = 0) -> JSON {
        switch r.int(below: depth >= 3 ? 6 : 9) {
        case 0: return .null
        case 1: return .bool(r.chance(50))
        case 2: return .int(r.chance(80) ? Int64(r.int(-(1 << 53)...(1 << 53))) : Int64(r.int(-1000...1000)))
        case 3:
            var d = Double(bitPattern: r.next())
            if !d.isFinite { d = Double(r.int(-1_000_000...1_000_000)) / 64 }
            return .double(d)
        case 4, 5: return .string(text(&r))
        case 6, 7: return .array((0..<r.int(0...4)).map { _ in random(&r, depth: depth + 1) })
        default:
            var seen = Set<String>()
            var members: [(String, JSON)] = []
            for _ in 0..<r.int(0...4) {
                let key = r.chance(50) ? r.pick(["content", "type", "delta", "error", "usage", "choices", "text"]) : text(&r, maxCount: 8)
                guard seen.insert(key).inserted else { continue }
                members.append((key, random(&r, depth: depth + 1)))
            }
            return .object(members)
        }
    }

    // MARK: Writing

    /// How a value is written: whitespace between tokens (with `\n` only if `newlines`), and
    /// which characters are escaped.
    struct Style {
        var spaces: Bool
        var newlines: Bool
        var escapeNonASCII: Int  // percent of non-ASCII scalars written as \uXXXX
        var escapeSlash: Bool
    }

    static func style(_ r: inout SplitMix, newlines: Bool) -> Style {
        Style(spaces: r.chance(50), newlines: newlines && r.chance(40), escapeNonASCII: r.pick([0, 0, 30, 100]), escapeSlash: r.chance(20))
    }

    func write(_ style: Style, _ r: inout SplitMix) -> String {
        var out = ""
        write(into: &out, style, &r)
        return out
    }

    private static func gap(_ out: inout String, _ style: Style, _ r: inout SplitMix) {
        guard style.spaces || style.newlines, r.chance(30) else { return }
        out += style.newlines && r.chance(50) ? "\n" : r.pick([" ", "\t", "  "])
    }

    private func write(into out: inout String, _ style: Style, _ r: inout SplitMix) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += "\(d)"
        case .string(let s): Self.quote(s, into: &out, style, &r)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                Self.gap(&out, style, &r)
                item.write(into: &out, style, &r)
                Self.gap(&out, style, &r)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                Self.gap(&out, style, &r)
                Self.quote(key, into: &out, style, &r)
                Self.gap(&out, style, &r)
                out += ":"
                Self.gap(&out, style, &r)
                value.write(into: &out, style, &r)
            }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String, _ style: Style, _ r: inout SplitMix) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/" where style.escapeSlash: out += "\\/"
            case "\n": out += r.chance(50) ? "\\n" : "\\u000a"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (scalar.value > 0x7E && r.int(below: 100) < style.escapeNonASCII) {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x1_0000
                        out += String(format: "\\u%04x\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: r.chance(50) ? "\\u%04x" : "\\u%04X", scalar.value)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    // MARK: Comparing

    /// Whether what `JSONSerialization` read is this value: strings compared scalar by scalar.
    func matches(_ any: Any) -> Bool {
        switch self {
        case .null: return any is NSNull
        case .bool(let b): return (any as? Bool) == b
        case .int(let i): return (any as? NSNumber).map { $0.int64Value == i && $0.doubleValue == Double(i) } ?? false
        case .double(let d):
            // Foundation reads a number of 17 significant digits as NSDecimalNumber, whose double
            // can be off in the last digits (not a path aifs takes: it reads only token counts).
            guard let got = (any as? NSNumber)?.doubleValue else { return false }
            return got == d || abs(got - d) <= abs(d) * 1e-14
        case .string(let s): return (any as? String).map { scalars($0) == scalars(s) } ?? false
        case .array(let items):
            guard let array = any as? [Any], array.count == items.count else { return false }
            return zip(items, array).allSatisfy { $0.matches($1) }
        case .object(let members):
            guard let object = any as? [String: Any], object.count == members.count else { return false }
            guard Set(object.keys.map(scalars)) == Set(members.map { scalars($0.0) }) else { return false }
            return members.allSatisfy { key, value in object[key].map(value.matches) ?? false }
        }
    }
}

/// JSON text nested `depth` deep (`[[[…]]]` or `{"a":{"a":…}}`), closed or not.
func nestingBomb(_ r: inout SplitMix, depth: Int) -> String {
    let object = r.chance(50)
    var s = String(repeating: object ? "{\"a\":" : "[", count: depth) + (r.chance(50) ? "1" : "")
    if r.chance(70) { s += String(repeating: object ? "}" : "]", count: depth) }
    return s
}
