/// Splits a byte stream into lines, whatever the chunk boundaries: `\n`, `\r\n` and a lone
/// `\r` end a line (as in the SSE format), a `\r\n` split across two chunks counts once, and
/// bytes are kept until a line is complete, so a UTF-8 character split across chunks decodes
/// whole (invalid UTF-8 is decoded lossily).
public struct LineSplitter: Sendable {
    private var pending: [UInt8] = []
    /// The previous chunk ended with `\r`: a `\n` opening the next one belongs to it.
    private var afterCarriageReturn = false

    public init() {}

    /// The lines completed by `bytes`, without their terminators.
    public mutating func push<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var lines: [String] = []
        for byte in bytes {
            if afterCarriageReturn {
                afterCarriageReturn = false
                if byte == 0x0A { continue }
            }
            switch byte {
            case 0x0A:
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
            case 0x0D:
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
                afterCarriageReturn = true
            default:
                pending.append(byte)
            }
        }
        return lines
    }

    /// A last line without a terminator, if any.
    public mutating func finish() -> String? {
        defer { pending = [] }
        return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
    }
}
