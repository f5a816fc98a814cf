/// The operations a FUSE filesystem implements on top of FuseKit.
///
/// Every method is called on the session's loop thread with a ``Request`` that it must answer
/// exactly once: at once, or later from any thread (move it into a task or a
/// ``PendingRequest``). A method must never block the loop thread — not on a lock held for long,
/// a semaphore, I/O or a task — because while it runs no other request, not even an interrupt,
/// is read from the kernel.
///
/// `handle` is the object given to `reply(open:)`/`reply(create:)`, handed back with every
/// request on that open file, and released after `release`/`releasedir` returns.
///
/// Each method lists the errnos a typical implementation answers; unimplemented ones answer
/// `ENOSYS` (the kernel then stops asking) or `EPERM` for changes the filesystem refuses.
public protocol FileSystem: AnyObject, Sendable {
    /// Find `name` in `parent`. `ENOENT` (not cached), `ENOTDIR`.
    func lookup(_ request: consuming Request, parent: Inode, name: FileName)
    /// The kernel dropped `lookups` references to `inode` (each successful `lookup`, `mkdir` or
    /// `create` reply adds one). A filesystem that allocates inodes frees one at zero. No reply.
    func forget(inode: Inode, lookups: UInt64)
    /// Attributes of `inode`. `ENOENT` once the node is gone.
    func getattr(_ request: consuming Request, inode: Inode)
    /// chmod/chown/truncate/utimens. `EPERM`, `EACCES`, `ENOENT`.
    func setattr(_ request: consuming Request, inode: Inode, changes: SetAttributes, handle: AnyObject?)
    /// `EEXIST`, `EINVAL` (bad name), `EPERM`, `ENOSPC`.
    func mkdir(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32)
    /// `ENOENT`, `EPERM`, `ENOTEMPTY`.
    func rmdir(_ request: consuming Request, parent: Inode, name: FileName)
    /// `ENOENT`, `EPERM`, `EISDIR`.
    func unlink(_ request: consuming Request, parent: Inode, name: FileName)
    /// `ENOENT`, `EEXIST`, `EINVAL`, `EPERM`, `EXDEV`.
    func rename(_ request: consuming Request, parent: Inode, name: FileName, newParent: Inode, newName: FileName, flags: UInt32)
    /// `open(O_CREAT)` of a name that does not exist. `EPERM`, `EACCES`, `ENOENT`.
    func create(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32, info: FileInfo)
    /// `EACCES`, `EISDIR`, `ENOENT`.
    func open(_ request: consuming Request, inode: Inode, info: FileInfo)
    /// Bytes at `offset` (ignored for streams). An empty reply is end of file. `EAGAIN`,
    /// `EINTR` (interrupted while parked), `EIO`, `EBADF`.
    func read(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64, info: FileInfo)
    /// `data` is valid only during the call: copy it. `EFBIG`, `EAGAIN`, `EINVAL`, `EBADF`.
    func write(_ request: consuming Request, inode: Inode, handle: AnyObject?, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo)
    /// `fallocate(2)`/`posix_fallocate(3)` of `length` bytes at `offset` (`mode` 0 reserves and
    /// extends; other modes punch or collapse). Answer at once from the sizes alone, before
    /// allocating anything: `EFBIG` past a limit, `EINVAL`. `EOPNOTSUPP` (the default) makes
    /// glibc's `posix_fallocate` write a byte into every block of the range instead, so a
    /// filesystem with files that cannot grow should answer something else.
    func fallocate(_ request: consuming Request, inode: Inode, handle: AnyObject?, mode: Int32, offset: Int64, length: Int64)
    /// Each `close()` of a descriptor; `close()` returns what this answers.
    func flush(_ request: consuming Request, inode: Inode, handle: AnyObject?)
    /// The last close of an open file; the answer reaches nobody.
    func release(_ request: consuming Request, inode: Inode, handle: AnyObject?)
    func opendir(_ request: consuming Request, inode: Inode, info: FileInfo)
    func readdir(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64)
    /// `readdir` with each entry's attributes (answer with `reply(directoryPlus:)`), so `ls -l`
    /// needs no `lookup` per entry. `ENOSYS` (the default) makes the kernel use `readdir`.
    func readdirplus(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64)
    func releasedir(_ request: consuming Request, inode: Inode, handle: AnyObject?)
    /// Answer at once with the current readiness; keep `pollHandle` (newest per open file) and
    /// notify it when readiness changes.
    func poll(_ request: consuming Request, inode: Inode, handle: AnyObject?, pollHandle: PollHandle?)
    func statfs(_ request: consuming Request, inode: Inode)
    /// Called once, from the thread that stops the session, before parked requests are swept:
    /// stop producing, answer what you hold.
    func sessionWillStop()
}

extension FileSystem {
    public func forget(inode: Inode, lookups: UInt64) {}
    public func setattr(_ request: consuming Request, inode: Inode, changes: SetAttributes, handle: AnyObject?) { request.reply(error: .EPERM) }
    public func mkdir(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32) { request.reply(error: .EPERM) }
    public func rmdir(_ request: consuming Request, parent: Inode, name: FileName) { request.reply(error: .EPERM) }
    public func unlink(_ request: consuming Request, parent: Inode, name: FileName) { request.reply(error: .EPERM) }
    public func rename(_ request: consuming Request, parent: Inode, name: FileName, newParent: Inode, newName: FileName, flags: UInt32) { request.reply(error: .EPERM) }
    public func create(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32, info: FileInfo) { request.reply(error: .EPERM) }
    public func write(_ request: consuming Request, inode: Inode, handle: AnyObject?, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) { request.reply(error: .EBADF) }
    public func flush(_ request: consuming Request, inode: Inode, handle: AnyObject?) { request.replyOK() }
    public func fallocate(_ request: consuming Request, inode: Inode, handle: AnyObject?, mode: Int32, offset: Int64, length: Int64) {
        request.reply(error: .EOPNOTSUPP)
    }
    public func release(_ request: consuming Request, inode: Inode, handle: AnyObject?) { request.replyOK() }
    public func opendir(_ request: consuming Request, inode: Inode, info: FileInfo) { request.reply(open: nil) }
    public func releasedir(_ request: consuming Request, inode: Inode, handle: AnyObject?) { request.replyOK() }
    public func readdirplus(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64) {
        request.reply(error: .ENOSYS)
    }
    public func poll(_ request: consuming Request, inode: Inode, handle: AnyObject?, pollHandle: PollHandle?) { request.reply(poll: [.readable, .writable]) }
    public func statfs(_ request: consuming Request, inode: Inode) {
        request.reply(statistics: FilesystemStatistics(files: 0, freeFiles: 0, maxNameLength: 255))
    }
    public func sessionWillStop() {}
}
