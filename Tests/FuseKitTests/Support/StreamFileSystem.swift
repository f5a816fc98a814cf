import FuseKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A small filesystem for FuseKit's own tests: a root (1) holding a stream `stream` (2), whose
/// reads park until a write brings data, and a directory `dir` (3) with `entries` in it.
///
/// Reads on `stream` with nothing buffered park as an interruptible ``PendingRequest`` (or
/// answer `EAGAIN` when non-blocking); a write answers the oldest parked read with its bytes,
/// else buffers them. Every open gets a fresh ``Handle``; the handlers note which handle each
/// request brought, so tests can check that handles come back as they were given.
final class StreamFileSystem: FileSystem, @unchecked Sendable {
    static let root: Inode = 1
    static let stream: Inode = 2
    static let directory: Inode = 3

    /// The object given with each open reply.
    final class Handle: @unchecked Sendable {
        let serial: Int
        init(serial: Int) { self.serial = serial }
    }

    /// What the handlers share (under `state`'s lock).
    struct State {
        var buffered: [UInt8] = []
        var waiting: [PendingRequest] = []
        var opened = 0
        /// The handles that came back with read, write, flush, release, in order.
        var seen: [(operation: String, handle: ObjectIdentifier?)] = []
        var interrupts = 0
        var pollHandle: PollHandle?
        /// Parked reads still unanswered when `sessionWillStop` ran (nil before it ran).
        var waitingAtStop: Int?
        var stopCalls = 0
    }

    let state = Mutex(State())
    let entries: [String]

    init(entries: [String] = (0..<26).map { String(UnicodeScalar(UInt8(97 + $0))) }) {
        self.entries = entries
    }

    private func attributesOf(_ inode: Inode) -> FileAttributes? {
        switch inode {
        case Self.root, Self.directory: return FileAttributes(inode: inode, kind: .directory, permissions: 0o755, linkCount: 2)
        case Self.stream: return FileAttributes(inode: inode, kind: .regular, permissions: 0o666)
        default: return nil
        }
    }

    private func note(_ operation: String, _ handle: AnyObject?) {
        state.withLock { $0.seen.append((operation, handle.map(ObjectIdentifier.init))) }
    }

    func lookup(_ request: consuming Request, parent: Inode, name: FileName) {
        let inode: Inode? = switch (parent, name.string) {
        case (Self.root, "stream"): Self.stream
        case (Self.root, "dir"): Self.directory
        default: nil
        }
        guard let inode, let attributes = attributesOf(inode) else { return request.reply(error: parent == Self.root ? .ENOENT : .ENOTDIR) }
        request.reply(entry: Entry(attributes: attributes, entryTimeout: 1, attributeTimeout: 1))
    }

    func getattr(_ request: consuming Request, inode: Inode) {
        guard let attributes = attributesOf(inode) else { return request.reply(error: .ENOENT) }
        request.reply(attributes: attributes, timeout: 1)
    }

    func open(_ request: consuming Request, inode: Inode, info: FileInfo) {
        guard inode == Self.stream else { return request.reply(error: inode == Self.root || inode == Self.directory ? .EISDIR : .ENOENT) }
        let serial = state.withLock { state -> Int in
            state.opened += 1
            return state.opened
        }
        request.reply(open: Handle(serial: serial), options: [.directIO, .nonSeekable])
    }

    func read(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64, info: FileInfo) {
        note("read", handle)
        let bytes = state.withLock { state -> [UInt8]? in
            guard !state.buffered.isEmpty else { return nil }
            let bytes = Array(state.buffered.prefix(size))
            state.buffered.removeFirst(bytes.count)
            return bytes
        }
        if let bytes { return request.reply(bytes: bytes) }
        if info.isNonBlocking { return request.reply(error: .EAGAIN) }
        // Parked; an interrupt removes it from the list (it is claimed by then, so no longer
        // waiting) before answering EINTR.
        let pending = PendingRequest(request, interruptible: true) { [weak self] in
            self?.state.withLock { state in
                state.interrupts += 1
                state.waiting.removeAll { !$0.isWaiting }
            }
        }
        state.withLock { state in
            if pending.isWaiting { state.waiting.append(pending) }
        }
    }

    func write(_ request: consuming Request, inode: Inode, handle: AnyObject?, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        note("write", handle)
        let bytes = Array(data)
        // Claim a parked read under the lock, answer it after unlocking.
        let reader = state.withLock { state -> Request? in
            while !state.waiting.isEmpty {
                if let claimed = state.waiting.removeFirst().take() { return claimed }
            }
            state.buffered += bytes
            return nil
        }
        reader?.reply(bytes: bytes)
        request.reply(written: bytes.count)
        let poll = state.withLock { state -> PollHandle? in
            defer { state.pollHandle = nil }
            return state.pollHandle
        }
        poll?.notify()
    }

    func flush(_ request: consuming Request, inode: Inode, handle: AnyObject?) {
        note("flush", handle)
        request.replyOK()
    }

    func release(_ request: consuming Request, inode: Inode, handle: AnyObject?) {
        note("release", handle)
        request.replyOK()
    }

    func readdir(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64) {
        guard inode == Self.directory else { return request.reply(error: .ENOTDIR) }
        let listing = entries.enumerated().map { DirectoryEntry(name: $1, inode: 100 + Inode($0), kind: .regular) }
        request.reply(directory: listing, offset: Int(offset), maxSize: size)
    }

    func readdirplus(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64) {
        guard inode == Self.directory else { return request.reply(error: .ENOTDIR) }
        let listing = entries.enumerated().map { index, name -> (entry: DirectoryEntry, attributes: Entry?) in
            let inode = 100 + Inode(index)
            let attributes = index % 2 == 0
                ? Entry(attributes: FileAttributes(inode: inode, kind: .regular, permissions: 0o644), entryTimeout: 2, attributeTimeout: 3)
                : nil
            return (DirectoryEntry(name: name, inode: inode, kind: .regular), attributes)
        }
        request.reply(directoryPlus: listing, offset: Int(offset), maxSize: size)
    }

    func poll(_ request: consuming Request, inode: Inode, handle: AnyObject?, pollHandle: PollHandle?) {
        let ready = state.withLock { state -> Bool in
            if let pollHandle { state.pollHandle = pollHandle }  // the newest only
            return !state.buffered.isEmpty
        }
        request.reply(poll: ready ? [.readable, .writable] : [.writable])
    }

    func sessionWillStop() {
        state.withLock { state in
            state.stopCalls += 1
            state.waitingAtStop = state.waiting.filter(\.isWaiting).count
        }
    }
}
