/// A socket's unread output: reply bytes in order, with failure marks between them.
///
/// Reading consumes (one cursor shared by all readers, like a pipe). A failure mark stands at
/// the byte position where a failed request's reply stopped; a read that reaches it returns `EIO`
/// once and removes it, so `cat` exits non-zero after printing what came before.
struct OutputBuffer {
    private var storage: [UInt8] = []
    private var head = 0
    /// Absolute positions (bytes ever appended) of failure marks, ascending.
    private var failureMarks: [Int] = []
    /// Bytes consumed before `storage[head]`, as an absolute position.
    private var consumedBase = 0
    /// The last read consumed the failure mark at the read position.
    private var pastMark = false

    init() {}

    /// A buffer whose unread part is `restored` (positions count from 0 again).
    init(restoring restored: RestoredStream) {
        storage = restored.bytes
        failureMarks = restored.failureMarks
    }

    var unreadCount: Int { storage.count - head }
    var isEmpty: Bool { unreadCount == 0 && failureMarks.isEmpty }
    /// Absolute position of the next byte appended.
    var writtenPosition: Int { consumedBase + storage.count }
    /// How far reads have consumed (what the store keeps).
    var cursor: StreamCursor { StreamCursor(position: consumedBase + head, pastMark: pastMark) }

    mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        storage.append(contentsOf: bytes)
    }

    mutating func appendFailure() {
        failureMarks.append(consumedBase + storage.count)
    }

    enum ReadResult: Equatable {
        case bytes([UInt8])
        case failure
        case nothing
    }

    /// Takes up to `max` bytes, stopping at the next failure mark; or the mark itself.
    mutating func read(max: Int) -> ReadResult {
        let position = consumedBase + head
        if let mark = failureMarks.first, mark == position {
            failureMarks.removeFirst()
            pastMark = true
            return .failure
        }
        var available = unreadCount
        if let mark = failureMarks.first { available = min(available, mark - position) }
        let count = min(max, available)
        guard count > 0 else { return .nothing }
        let bytes = Array(storage[head..<(head + count)])
        head += count
        pastMark = false
        compact()
        return .bytes(bytes)
    }

    /// Drops everything unread, marks included.
    mutating func removeAll() {
        consumedBase += storage.count
        storage = []
        head = 0
        failureMarks = []
        pastMark = true
    }

    private mutating func compact() {
        if head == storage.count {
            consumedBase += storage.count
            storage.removeAll(keepingCapacity: storage.capacity <= 65_536)
            head = 0
        } else if head > 65_536, head * 2 > storage.count {
            consumedBase += head
            storage.removeFirst(head)
            head = 0
        }
    }
}

/// Unread lines of an `error` file: read consumes, never blocks.
struct ErrorLog {
    private(set) var unread = OutputBuffer()

    init() {}
    init(restoring restored: RestoredStream) { unread = OutputBuffer(restoring: restored) }

    /// Appends a line (a newline is added if missing); returns where it starts and its bytes.
    @discardableResult
    mutating func add(_ line: String) -> (start: Int, bytes: [UInt8]) {
        let bytes = Array((line.hasSuffix("\n") ? line : line + "\n").utf8)
        let start = unread.writtenPosition
        unread.append(bytes)
        return (start, bytes)
    }

    mutating func read(max: Int) -> [UInt8] {
        if case .bytes(let bytes) = unread.read(max: max) { return bytes }
        return []
    }

    var cursor: StreamCursor { unread.cursor }
}
