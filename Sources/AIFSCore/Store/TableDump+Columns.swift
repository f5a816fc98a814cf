import Foundation
import GRDB

/// One column of a ``TableDump`` table: every value's type tag, then the whole numbers as
/// zigzag varints of the difference from the column's previous whole number, the reals as
/// zigzag varints of the difference of their IEEE bit patterns, the text and blob lengths, and
/// their bytes: five blocks, each prefixed by its length.
struct ColumnWriter {
    private var tags: [UInt8] = []
    private var integers = DumpWriter()
    private var reals = DumpWriter()
    private var lengths = DumpWriter()
    private var data: [UInt8] = []
    private var lastInteger: Int64 = 0
    private var lastReal: Int64 = 0

    enum Tag: UInt8 { case null, integer, real, text, blob }

    /// Appends one value; `isText`: the value is text read as its bytes (a blob, or NULL for
    /// an empty one).
    mutating func append(_ value: DatabaseValue, isText: Bool = false) {
        if isText {
            let bytes: [UInt8]
            switch value.storage {
            case .blob(let blob): bytes = [UInt8](blob)
            case .string(let text): bytes = Array(text.utf8)
            default: bytes = []
            }
            tags.append(Tag.text.rawValue)
            lengths.varint(UInt64(bytes.count))
            data += bytes
            return
        }
        switch value.storage {
        case .null:
            tags.append(Tag.null.rawValue)
        case .int64(let number):
            tags.append(Tag.integer.rawValue)
            integers.signed(number &- lastInteger)
            lastInteger = number
        case .double(let number):
            tags.append(Tag.real.rawValue)
            let bits = Int64(bitPattern: number.bitPattern)
            reals.signed(bits &- lastReal)
            lastReal = bits
        case .string(let text):
            tags.append(Tag.text.rawValue)
            let bytes = Array(text.utf8)
            lengths.varint(UInt64(bytes.count))
            data += bytes
        case .blob(let blob):
            tags.append(Tag.blob.rawValue)
            lengths.varint(UInt64(blob.count))
            data += blob
        }
    }

    func finish(into out: inout DumpWriter) {
        for block in [tags, integers.buffer, reals.buffer, lengths.buffer, data] {
            out.varint(UInt64(block.count))
            out.bytes(block)
        }
    }
}

/// A value read back: text as its bytes (NULs kept), anything else as it was.
enum ColumnValue {
    case text([UInt8])
    case value(DatabaseValue)
}

/// Reads back one column that ``ColumnWriter`` wrote.
enum ColumnReader {
    static func read(_ input: inout DumpReader, rows: Int) throws -> [ColumnValue] {
        let tags = try input.bytes(try input.count())
        var integers = DumpReader(try input.bytes(try input.count()))
        var reals = DumpReader(try input.bytes(try input.count()))
        var lengths = DumpReader(try input.bytes(try input.count()))
        let data = try input.bytes(try input.count())
        guard tags.count == rows else { throw TableDump.Failure(description: "a column holds \(tags.count) values, not \(rows)") }
        var values: [ColumnValue] = []
        values.reserveCapacity(rows)
        var lastInteger: Int64 = 0, lastReal: Int64 = 0, offset = 0
        for tag in tags {
            switch ColumnWriter.Tag(rawValue: tag) {
            case .null:
                values.append(.value(.null))
            case .integer:
                lastInteger = lastInteger &+ (try integers.signed())
                values.append(.value(lastInteger.databaseValue))
            case .real:
                lastReal = lastReal &+ (try reals.signed())
                values.append(.value(Double(bitPattern: UInt64(bitPattern: lastReal)).databaseValue))
            case .text, .blob:
                let length = try lengths.length()
                guard offset + length <= data.count else { throw TableDump.Failure(description: "a value runs past its column") }
                let bytes = Array(data[offset..<(offset + length)])
                offset += length
                values.append(tag == ColumnWriter.Tag.text.rawValue ? .text(bytes) : .value(Data(bytes).databaseValue))
            case nil:
                throw TableDump.Failure(description: "unknown value tag \(tag)")
            }
        }
        return values
    }
}

/// Bytes, LEB128 varints and length-prefixed strings, appended.
struct DumpWriter {
    private(set) var buffer: [UInt8] = []

    mutating func bytes(_ bytes: [UInt8]) { buffer += bytes }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            buffer.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        buffer.append(UInt8(value))
    }

    /// Zigzag: small negative and positive numbers both take few bytes.
    mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    mutating func string(_ text: String) {
        let bytes = Array(text.utf8)
        varint(UInt64(bytes.count))
        buffer += bytes
    }
}

/// Reads what ``DumpWriter`` wrote; every read past the end throws.
struct DumpReader {
    private let data: [UInt8]
    private var position = 0

    init(_ data: [UInt8]) { self.data = data }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, position + count <= data.count else { throw TableDump.Failure(description: "the dump ends early") }
        defer { position += count }
        return Array(data[position..<(position + count)])
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard position < data.count, shift < 64 else { throw TableDump.Failure(description: "the dump ends early") }
            let byte = data[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    /// A count of what follows in this stream (items of at least a byte each, or bytes): no
    /// more than the bytes left, so a damaged count cannot ask for a huge allocation.
    mutating func count() throws -> Int {
        let value = try varint()
        guard value <= UInt64(data.count - position) else { throw TableDump.Failure(description: "a count of \(value) is more than the dump holds") }
        return Int(value)
    }

    /// A length of bytes held elsewhere (checked there).
    mutating func length() throws -> Int {
        let value = try varint()
        guard value <= UInt64(Int32.max) else { throw TableDump.Failure(description: "a length of \(value) is not plausible") }
        return Int(value)
    }

    mutating func signed() throws -> Int64 {
        let value = try varint()
        return Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    mutating func string() throws -> String { String(decoding: try bytes(try count()), as: UTF8.self) }
}
