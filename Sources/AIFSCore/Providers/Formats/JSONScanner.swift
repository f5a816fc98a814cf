/// A cursor over JSON text (UTF-8 bytes) that reads only what the stream fast paths need:
/// objects member by member, arrays, strings (unescaped to UTF-8 bytes), and scalars to skip.
///
/// It is stricter than `JSONSerialization`, never looser: every method answers nil or false
/// for anything outside the plain JSON it knows, and the fast path then declines, leaving the
/// event to the general decoder (which may accept it, or may not). Declined: keys written with
/// escapes, numbers with a fraction, an exponent or more than 18 digits, trailing commas (which
/// Foundation accepts), any whitespace but space, tab, `\n` and `\r`, raw control characters
/// in strings, invalid escapes, lone surrogates, and invalid UTF-8 in a string it returns.
///
/// Invalid UTF-8 in a string that is only skipped does not matter: the general decoder sees
/// those bytes decoded lossily (as U+FFFD), still inside the same string, and ignores them too.
struct JSONScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: Structure

    /// Nothing but whitespace is left.
    mutating func atEnd() -> Bool {
        skipWhitespace()
        return at == bytes.count
    }

    /// `{ "key": value, … }`: for each member, `member` gets the key's bytes (valid only during
    /// the call) with the cursor before the value, and must read the value. False if it answers
    /// false or the object is malformed.
    mutating func object(_ member: (inout JSONScanner, UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = plainString(), take(UInt8(ascii: ":")), member(&self, key) else { return false }
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "}"))
        }
    }

    /// `[ value, … ]` of at most `limit` values, each read by `element`.
    mutating func array(limit: Int, _ element: (inout JSONScanner) -> Bool) -> Bool {
        guard take(UInt8(ascii: "[")) else { return false }
        if take(UInt8(ascii: "]")) { return true }
        var count = 0
        while true {
            count += 1
            guard count <= limit, element(&self) else { return false }
            if take(UInt8(ascii: ",")) { continue }
            return take(UInt8(ascii: "]"))
        }
    }

    // MARK: Values

    /// A string without escapes, as its raw bytes (valid only as long as the text is); nil for
    /// anything else, a string with escapes included. For keys and for values like `"type"`.
    mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                at += 1
                return UnsafeBufferPointer(rebasing: bytes[start..<(at - 1)])
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            at += 1
        }
        return nil
    }

    /// A string, unescaped, as valid UTF-8 bytes.
    mutating func string() -> [UInt8]? { readString(keep: true) }

    /// `null` (true, with the cursor after it) or a string (`value` set to it).
    mutating func nullOrString(into value: inout [UInt8]?) -> Bool {
        if null() { return true }
        guard let string = string() else { return false }
        value = string
        return true
    }

    mutating func null() -> Bool { literal("null") }

    /// A string, an integer, `true`, `false` or `null`, read and forgotten; false for an object,
    /// an array, or anything it does not accept (see the type's comment).
    mutating func skipScalar() -> Bool {
        skipWhitespace()
        guard at < bytes.count else { return false }
        switch bytes[at] {
        case UInt8(ascii: "\""): return readString(keep: false) != nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return skipInteger()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return false
        }
    }

    // MARK: Pieces

    private mutating func skipWhitespace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    /// Skips whitespace, then takes `byte` if it comes next.
    private mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        skipWhitespace()
        let end = at + word.utf8CodeUnitCount
        guard end <= bytes.count, UnsafeBufferPointer(rebasing: bytes[at..<end]).equals(word) else { return false }
        at = end
        return true
    }

    /// `-?(0|[1-9][0-9]*)` with at most 18 digits, not followed by a fraction or an exponent.
    private mutating func skipInteger() -> Bool {
        if bytes[at] == UInt8(ascii: "-") { at += 1 }
        let start = at
        while at < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[at]) { at += 1 }
        let digits = at - start
        guard digits >= 1, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return false }
        guard at < bytes.count else { return true }
        switch bytes[at] {
        case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return false
        default: return true
        }
    }

    /// A string from its opening quote: its unescaped bytes if `keep` (checked to be UTF-8),
    /// else `[]` once it has been checked to be a string the general decoder accepts too.
    private mutating func readString(keep: Bool) -> [UInt8]? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        var ascii = true
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                at += 1
                guard keep else { return [] }
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<(at - 1)])
                return ascii || raw.isValidUTF8 ? Array(raw) : nil
            }
            if byte == UInt8(ascii: "\\") { return readEscapedString(from: start, keep: keep) }
            if byte < 0x20 { return nil }
            if byte >= 0x80 { ascii = false }
            at += 1
        }
        return nil
    }

    /// The rest of a string that has escapes, from its first backslash (at `at`).
    private mutating func readEscapedString(from start: Int, keep: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        if keep {
            out.reserveCapacity(bytes.count - start)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<at]))
        }
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                return !keep || out.withUnsafeBufferPointer(\.isValidUTF8) ? out : nil
            case UInt8(ascii: "\\"):
                guard let scalar = escape() else { return nil }
                if keep { out.appendUTF8(scalar) }
            case 0..<0x20:
                return nil
            default:
                if keep { out.append(byte) }
            }
        }
        return nil
    }

    /// The scalar an escape stands for, the cursor after its backslash: `\" \\ \/ \b \f \n \r
    /// \t`, `\uXXXX`, or a surrogate pair `\uD8xx\uDCxx`. Nil for anything else.
    private mutating func escape() -> UInt32? {
        guard at < bytes.count else { return nil }
        let letter = bytes[at]
        at += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return UInt32(letter)
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "u"):
            guard let unit = hex4() else { return nil }
            switch unit {
            case 0xD800...0xDBFF:
                guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else { return nil }
                at += 2
                guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                return nil
            default:
                return unit
            }
        default:
            return nil
        }
    }

    private mutating func hex4() -> UInt32? {
        guard at + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[at]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            at += 1
        }
        return value
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether these bytes are `literal`'s (ASCII) text.
    func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let text = literal.utf8Start
        for index in 0..<count where self[index] != text[index] { return false }
        return true
    }

    /// Whether these bytes are well-formed UTF-8 (no overlong forms, surrogates, or scalars
    /// above U+10FFFF; no sequence cut short), as `String(validating:as:)` decides.
    var isValidUTF8: Bool {
        var index = 0
        while index < count {
            let lead = self[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            // The continuation bytes that follow, and the range the first of them must be in.
            let more: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: more = 1
            case 0xE0: more = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: more = 2
            case 0xED: more = 2; high = 0x9F
            case 0xF0: more = 3; low = 0x90
            case 0xF1...0xF3: more = 3
            case 0xF4: more = 3; high = 0x8F
            default: return false
            }
            guard index + more < count, (low...high).contains(self[index + 1]) else { return false }
            for next in stride(from: index + 2, through: index + more, by: 1) where !(0x80...0xBF).contains(self[next]) {
                return false
            }
            index += more + 1
        }
        return true
    }
}

extension Array<UInt8> {
    /// Appends `scalar` (at most U+10FFFF, not a surrogate) encoded as UTF-8.
    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            append(UInt8(scalar))
        case 0x80..<0x800:
            append(UInt8(0xC0 | scalar >> 6))
            append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            append(UInt8(0xE0 | scalar >> 12))
            append(UInt8(0x80 | scalar >> 6 & 0x3F))
            append(UInt8(0x80 | scalar & 0x3F))
        default:
            append(UInt8(0xF0 | scalar >> 18))
            append(UInt8(0x80 | scalar >> 12 & 0x3F))
            append(UInt8(0x80 | scalar >> 6 & 0x3F))
            append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
