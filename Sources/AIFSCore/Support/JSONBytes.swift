#if canImport(Glibc)
import Glibc
#endif

/// A JSON text built directly as UTF-8 bytes: what the hot paths write by hand (an event's
/// line, a memory's metadata) without going through `String` interpolation and appends, which
/// cost ~20 µs an event line (a fifth of a durable round trip's writer time in `perf`).
///
/// Strings are escaped on their UTF-8 bytes: only `"`, `\` and bytes below 0x20 need it, and
/// every byte of a multi-byte character is 0x80 or above, so the rest is copied as it is. The
/// output is the same text as ``JSONText`` writes.
struct JSONBytes {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends `text` as it is (keys, punctuation, literals).
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `value` as a JSON string literal.
    mutating func string(_ value: String) {
        bytes.append(0x22)
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                escape(byte)
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(0x22)
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case 0x22: raw("\\\"")
        case 0x5C: raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        default:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            raw("\\u00")
            bytes.append(hex[Int(byte >> 4)])
            bytes.append(hex[Int(byte & 0xF)])
        }
    }

    /// Appends `value` in decimal.
    mutating func int(_ value: Int) {
        if value < 0 {
            bytes.append(0x2D)
            unsigned(value.magnitude)
        } else {
            unsigned(UInt(value))
        }
    }

    mutating func unsigned<T: UnsignedInteger>(_ value: T) {
        var value = UInt64(value)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, room for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
                value /= 10
                count += 1
            } while value > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }

    /// Appends `value` as `true` or `false`.
    mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    /// Appends the UTC time `seconds` as ISO 8601 text, quoted: what ``WallClock/iso8601(_:fraction:)``
    /// writes (milliseconds, truncated, with `fraction`).
    mutating func iso8601(_ seconds: Double, fraction: Bool) {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        bytes.append(0x22)
        unsigned(UInt(max(0, parts.tm_year + 1900)))
        bytes.append(0x2D)
        two(parts.tm_mon + 1)
        bytes.append(0x2D)
        two(parts.tm_mday)
        bytes.append(0x54)  // T
        two(parts.tm_hour)
        bytes.append(0x3A)
        two(parts.tm_min)
        bytes.append(0x3A)
        two(parts.tm_sec)
        if fraction {
            let ms = min(999, Int((seconds - seconds.rounded(.down)) * 1000))
            bytes.append(0x2E)
            bytes.append(UInt8(0x30 + ms / 100))
            bytes.append(UInt8(0x30 + ms / 10 % 10))
            bytes.append(UInt8(0x30 + ms % 10))
        }
        raw("Z\"")
    }

    private mutating func two(_ value: Int32) {
        bytes.append(UInt8(0x30 + value / 10 % 10))
        bytes.append(UInt8(0x30 + value % 10))
    }
}
