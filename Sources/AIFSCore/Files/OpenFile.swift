import FuseKit

/// One open descriptor of the tree (acme: one cursor per open file): each file kind is a
/// subclass holding its open state and answering its own operations, so ``AIFileSystem`` only
/// hands them on. FuseKit gives the object back with every request on that descriptor and
/// drops it after `release`.
///
/// The defaults are those of a file that supports nothing: `read` and `write` answer `EBADF`
/// (the kernel checked the open mode already, so only a kind that never reads or writes gets
/// there), `flush` and `release` succeed, `poll` says always ready.
class OpenFile {
    /// Bytes for a `read`; an empty answer is end of file.
    func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        request.reply(error: .EBADF)
    }

    /// Takes written bytes (`data` is valid only during the call).
    func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        request.reply(error: .EBADF)
    }

    /// Each `close()` of a descriptor; `close()` returns what this answers.
    func flush(_ request: consuming Request) {
        request.replyOK()
    }

    /// The last close: the answer reaches nobody, so nothing here can fail.
    func release() {}

    /// The current readiness; `handle` is kept (newest per descriptor) where readiness changes.
    func poll(_ request: consuming Request, handle: PollHandle?) {
        request.reply(poll: [.readable, .writable])
    }
}

/// A read-only text fixed at open, read at offsets (`/ai/models`, `metadata.json`, a snapshot's
/// files, a search's hits). A failed search reads its message, then `EINVAL` instead of end of
/// file, so `cat` fails.
final class TextFile: OpenFile {
    let bytes: [UInt8]
    let failsAtEnd: Bool

    init(_ bytes: [UInt8], failsAtEnd: Bool = false) {
        self.bytes = bytes
        self.failsAtEnd = failsAtEnd
    }

    convenience init(text: String, failsAtEnd: Bool = false) {
        self.init(Array(text.utf8), failsAtEnd: failsAtEnd)
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        if failsAtEnd, offset >= bytes.count { return request.reply(error: .EINVAL) }
        request.reply(bytes: bytes.slice(offset: offset, size: size))
    }
}

/// An open directory: its listing, taken once at `opendir` so offsets are stable.
final class DirectoryListing: OpenFile {
    let entries: [DirectoryEntry]
    init(entries: [DirectoryEntry]) { self.entries = entries }
}

extension Array where Element == UInt8 {
    /// `size` bytes from `offset`, for regular-file reads of generated text.
    func slice(offset: Int64, size: Int) -> [UInt8] {
        let start = Int(clamping: offset)
        guard start < count else { return [] }
        return Array(self[start..<Swift.min(count, start + size)])
    }

    /// The bytes cut or zero-padded to `size` (a truncate).
    func resized(to size: UInt64) -> [UInt8] {
        let size = Int(clamping: size)
        if size <= count { return Array(self[..<size]) }
        return self + [UInt8](repeating: 0, count: size - count)
    }
}
