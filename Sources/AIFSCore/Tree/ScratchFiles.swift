import FuseKit
import Synchronization

/// The scratch files of socket directories: what `sed -i`, `perl -pi`, Python's atomic write
/// and editors create next to `prompt` to save it (a temporary file, then a `rename` onto
/// `prompt`, or a backup copy removed afterwards).
///
/// A scratch file lives in this daemon's memory only: never in the store, a snapshot or the
/// log, and gone at unmount or an hour after it was last written. It is its creator's alone:
/// mode 0600 whatever `chmod` asks, listed and found only for that user (and root). Its size is
/// bounded by `[limits] prompt_bytes`, and a socket holds at most ``perSocket`` of them.
/// Renaming one onto `prompt` replaces the prompt in one change (see `Namespace.rename`).
final class ScratchFiles: Sendable {
    /// Scratch inodes: `base | id`, between the sockets' and the snapshots' ranges.
    static let base: Inode = 1 << 60
    static func contains(_ inode: Inode) -> Bool { inode >= base && inode < base << 1 }
    /// The most scratch files in one socket directory.
    static let perSocket = 16
    /// How long an untouched scratch file is kept.
    static let lifetime: Double = 3600

    struct File: Sendable {
        let id: UInt64
        let socket: SocketID
        var name: String
        let uid: UInt32
        let gid: UInt32
        var bytes: [UInt8] = []
        var modified: Double
        var inode: Inode { ScratchFiles.base | id }
    }

    private struct State {
        var files: [UInt64: File] = [:]
        var next: UInt64 = 1
    }

    private let state = Mutex(State())

    /// The file of `inode`, if it is a live scratch file.
    func file(inode: Inode) -> File? {
        guard Self.contains(inode) else { return nil }
        return state.withLock { s in live(&s, s.files[inode & ~Self.base]) }
    }

    /// The scratch file `name` of `socket` that `caller` may see.
    func file(socket: SocketID, name: String, caller: Caller) -> File? {
        state.withLock { s in
            live(&s, s.files.values.first { $0.socket == socket && $0.name == name && Self.visible($0, to: caller) })
        }
    }

    /// The scratch files of `socket` that `caller` may see, by name.
    func files(socket: SocketID, caller: Caller) -> [File] {
        state.withLock { s in
            s.files.values.filter { $0.socket == socket && Self.visible($0, to: caller) }
                .compactMap { live(&s, $0) }.sorted { $0.name < $1.name }
        }
    }

    /// Makes an empty scratch file; `EEXIST` if `caller` already has one of that name,
    /// `ENOSPC` when the socket holds ``perSocket``.
    func create(socket: SocketID, name: String, caller: Caller) throws(Errno) -> File {
        try state.withLock { s throws(Errno) -> File in
            let mine = s.files.values.filter { $0.socket == socket && live(&s, $0) != nil }
            if mine.contains(where: { $0.name == name }) { throw .EEXIST }
            guard mine.count < Self.perSocket else { throw .ENOSPC }
            let file = File(id: s.next, socket: socket, name: name, uid: caller.uid, gid: caller.gid, modified: WallClock.now())
            s.next += 1
            s.files[file.id] = file
            return file
        }
    }

    /// Writes at `offset`; `EFBIG` past `limit`, `ENOENT` once the file is gone.
    func write(_ inode: Inode, _ data: UnsafeRawBufferPointer, at offset: Int, limit: Int) throws(Errno) -> Int {
        try change(inode) { file throws(Errno) in
            let (end, overflow) = offset.addingReportingOverflow(data.count)
            guard !overflow, end <= limit else { throw .EFBIG }
            if file.bytes.count < end { file.bytes += [UInt8](repeating: 0, count: end - file.bytes.count) }
            file.bytes.replaceSubrange(offset..<end, with: data)
            return data.count
        }
    }

    /// Sets the size (`truncate`, `O_TRUNC`); `EFBIG` past `limit`.
    func truncate(_ inode: Inode, to size: UInt64, limit: Int) throws(Errno) {
        try change(inode) { file throws(Errno) in
            guard size <= UInt64(limit) else { throw .EFBIG }
            file.bytes = file.bytes.resized(to: size)
        }
    }

    /// Gives the file another name in its directory, replacing the caller's file of that name.
    func rename(_ inode: Inode, to name: String) throws(Errno) {
        try state.withLock { s throws(Errno) in
            guard let file = live(&s, s.files[inode & ~Self.base]) else { throw .ENOENT }
            s.files = s.files.filter { !($0.value.socket == file.socket && $0.value.name == name && $0.value.uid == file.uid) }
            s.files[file.id]?.name = name
        }
    }

    /// Removes the file and gives back what it held.
    @discardableResult
    func remove(_ inode: Inode) -> File? {
        state.withLock { $0.files.removeValue(forKey: inode & ~Self.base) }
    }

    /// Forgets every scratch file of a removed socket.
    func removeAll(socket: SocketID) {
        state.withLock { s in s.files = s.files.filter { $0.value.socket != socket } }
    }

    private func change<T>(_ inode: Inode, _ body: (inout File) throws(Errno) -> T) throws(Errno) -> T {
        try state.withLock { s throws(Errno) -> T in
            let id = inode & ~Self.base
            guard live(&s, s.files[id]) != nil, var file = s.files[id] else { throw .ENOENT }
            let result = try body(&file)
            file.modified = WallClock.now()
            s.files[id] = file
            return result
        }
    }

    /// `file` unless it has outlived ``lifetime`` (then it is dropped).
    private func live(_ s: inout State, _ file: File?) -> File? {
        guard let file else { return nil }
        guard WallClock.now() - file.modified < Self.lifetime else {
            s.files.removeValue(forKey: file.id)
            return nil
        }
        return file
    }

    private static func visible(_ file: File, to caller: Caller) -> Bool { caller.isRoot || caller.uid == file.uid }
}

/// An open descriptor of a scratch file: reads and writes at offsets, shared with every other
/// descriptor of the same file, as a regular file's are.
final class ScratchFile: OpenFile {
    private let files: ScratchFiles
    private let inode: Inode
    private let limit: Int

    init(files: ScratchFiles, inode: Inode, limit: Int) {
        self.files = files
        self.inode = inode
        self.limit = limit
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        guard let file = files.file(inode: inode) else { return request.reply(error: .ENOENT) }
        request.reply(bytes: file.bytes.slice(offset: offset, size: size))
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        let start = info.isAppend ? (files.file(inode: inode)?.bytes.count ?? 0) : Int(clamping: offset)
        do {
            request.reply(written: try files.write(inode, data, at: start, limit: limit))
        } catch {
            request.reply(error: error)
        }
    }
}
