import Foundation

/// Splits a byte stream into lines, whatever the chunk boundaries: `\n`, `\r\n` and a lone
/// `\r` end a line (as in the SSE format), a `\r\n` split across two chunks counts once, and
/// bytes are kept until a line is complete, so a UTF-8 character split across chunks decodes
/// whole (invalid UTF-8 is decoded lossily).
///
/// The splitting itself is `ByteLineSplitter`'s; this type only makes a `String` of each line.
public struct LineSplitter: Sendable {
    private var lines = ByteLineSplitter()

    public init() {}

    /// The lines completed by `bytes`, without their terminators.
    public mutating func push<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var result: [String] = []
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            lines.push(buffer) { result.append(String(decoding: $0, as: UTF8.self)) }
        }
        if done == nil {
            Array(bytes).withUnsafeBufferPointer { buffer in
                lines.push(buffer) { result.append(String(decoding: $0, as: UTF8.self)) }
            }
        }
        return result
    }

    /// A last line without a terminator, if any.
    public mutating func finish() -> String? {
        var last: String?
        lines.finish { last = String(decoding: $0, as: UTF8.self) }
        return last
    }
}

/// The line splitting of `LineSplitter` on bytes, handing each line to a closure as a buffer
/// that is valid only during the call: no `String` and, for a line that lies whole inside one
/// chunk (the usual case), no copy. `SSEReader` reads model streams with it.
struct ByteLineSplitter: Sendable {
    /// The start of a line whose end has not arrived yet.
    private var pending: [UInt8] = []
    /// The previous chunk ended with `\r`: a `\n` opening the next one belongs to it.
    private var afterCarriageReturn = false

    /// Calls `line` for each line `chunk` completes, in order, without its terminator.
    mutating func push<E: Error>(_ chunk: UnsafeBufferPointer<UInt8>,
                                 _ line: (UnsafeBufferPointer<UInt8>) throws(E) -> Void) throws(E) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        let count = chunk.count
        var index = 0
        if afterCarriageReturn {
            afterCarriageReturn = false
            if chunk[0] == 0x0A { index = 1 }
        }
        var start = index
        // Where the next `\r` is (`count`: none), searched once for the chunk and again only
        // after passing it; each `\n` is searched up to it. Both searches are memchr's.
        var nextCR = -1
        while index < count {
            if nextCR < index { nextCR = Self.find(0x0D, base, from: index, to: count) }
            let end = Self.find(0x0A, base, from: index, to: nextCR)
            guard end < count else { break }
            try emit(UnsafeBufferPointer(rebasing: chunk[start..<end]), line)
            index = end + 1
            if chunk[end] == 0x0D {
                if index == count {
                    afterCarriageReturn = true
                } else if chunk[index] == 0x0A {
                    index += 1
                }
            }
            start = index
        }
        if start < count { pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start..<count])) }
    }

    /// The offset of the first `byte` in `base[from..<to]`, or `to`.
    private static func find(_ byte: UInt8, _ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int {
        guard from < to, let found = memchr(base + from, Int32(byte), to - from) else { return to }
        return UnsafeRawPointer(found) - UnsafeRawPointer(base)
    }

    /// Calls `line` with a last line that has no terminator, if there is one.
    mutating func finish<E: Error>(_ line: (UnsafeBufferPointer<UInt8>) throws(E) -> Void) throws(E) {
        guard !pending.isEmpty else { return }
        defer { pending = [] }
        try pending.withUnsafeBufferPointer { (buffer) throws(E) in try line(buffer) }
    }

    /// A line ends inside the current chunk: whole in `tail`, or `pending` + `tail`.
    private mutating func emit<E: Error>(_ tail: UnsafeBufferPointer<UInt8>,
                                         _ line: (UnsafeBufferPointer<UInt8>) throws(E) -> Void) throws(E) {
        if pending.isEmpty { return try line(tail) }
        pending.append(contentsOf: tail)
        defer { pending.removeAll(keepingCapacity: true) }
        try pending.withUnsafeBufferPointer { (buffer) throws(E) in try line(buffer) }
    }
}
