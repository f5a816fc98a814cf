import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A session without a kernel, for tests: it drives a ``FileSystem`` in-process, one request at
/// a time, and records every answer (swift-nio's `EmbeddedChannel`, fuser's test
/// `ReplySender`, go-fuse's `ServerCallbacks` are the models).
///
/// Each operation makes a ``Request`` whose answers go to a ``TestRequest``, calls the
/// filesystem's handler on the calling thread and returns the ``TestRequest`` once the handler
/// has returned — answered, or parked to be answered later from any thread. Wait for an answer
/// with `try await request.reply`; nothing here blocks a thread while waiting.
///
/// Everything between the request and its answer is the kernel session's own code: the reply
/// gate (answers after ``stop()`` are dropped), ``PendingRequest`` parking and its registry, the
/// interrupt registration (``interrupt(_:)`` runs the registered callback the way libfuse does,
/// under the request's lock, at once if the request is parked later), the open handles (a
/// handle given with `reply(open:)` is kept until ``release(_:)``, or until ``stop()`` for one
/// still open), the directory listing's fit in the reader's buffer.
///
/// As on the loop thread, handler calls and interrupts run one at a time (a handler that makes
/// another request of the same session from inside itself deadlocks, as it would stall a real
/// loop). Handlers must not block, as with a kernel session.
///
/// ```swift
/// let session = InProcessSession(fileSystem: MyFileSystem())
/// let entry = try await session.lookup(parent: 1, name: "notes").reply.entry
/// let file = try await session.open(inode: entry!.attributes.inode, flags: O_RDWR).file
/// #expect(try await session.write(file, "hello").reply == .written(5))
/// #expect(try await session.flush(file).reply == .ok)
/// let read = session.read(file, size: 4096)          // parked until data arrives
/// #expect(read.answer == nil)
/// produceData()
/// #expect(try await read.reply.text == "hello")
/// await session.stop()
/// ```
///
/// Kernel cache invalidations: a filesystem that asks its session to invalidate entries or
/// inodes can be given this session instead (``invalidateEntry(parent:name:)`` and
/// ``invalidateInode(_:dataToo:)`` have `FuseSession`'s signatures) and the test reads
/// ``invalidations``.
public final class InProcessSession: @unchecked Sendable {
    /// A kernel-cache invalidation the filesystem asked for.
    public enum Invalidation: Sendable, Equatable {
        case entry(parent: Inode, name: String)
        case inode(Inode, dataToo: Bool)
    }

    public let fileSystem: any FileSystem
    /// The reply gate, owned here (each ``TestRequest`` holds the session, so it outlives them).
    let gate = ReplyGate()
    let pending: PendingRegistry
    private let parked: Observed<Int>
    private let invalidationLog = Observed<[Invalidation]>([])
    /// The loop: held while a handler or an interrupt runs; true once stopped.
    private let loop = Mutex(false)
    private let stopping = Mutex(false)
    private let defaultCaller: Mutex<RequestContext>

    /// A session for `fileSystem`; requests come from `caller` unless an operation names
    /// another (by default this process's uid and gid).
    public init(fileSystem: any FileSystem,
                caller: RequestContext = RequestContext(uid: getuid(), gid: getgid(), pid: getpid())) {
        let parked = Observed(0)
        self.parked = parked
        self.pending = PendingRegistry(onChange: { count in parked.update { $0 = count } })
        self.fileSystem = fileSystem
        self.defaultCaller = Mutex(caller)
    }

    /// Who requests come from unless an operation says otherwise.
    public var caller: RequestContext {
        get { defaultCaller.withLock { $0 } }
        set { defaultCaller.withLock { $0 = newValue } }
    }

    // MARK: Making requests

    /// Makes a request and hands it to `body` (which calls the filesystem), under the loop like
    /// every operation; for what the named operations below do not cover. After ``stop()``
    /// `body` is not called and the request is answered `ENOTCONN`, as the kernel answers once
    /// the connection is gone.
    @discardableResult
    public func send(_ operation: String, as caller: RequestContext? = nil,
                     _ body: (consuming Request) -> Void) -> TestRequest {
        dispatch(TestRequest(session: self, operation: operation, context: caller ?? self.caller), body)
    }

    private func dispatch(_ test: TestRequest, _ body: (consuming Request) -> Void) -> TestRequest {
        let ran = loop.withLock { stopped -> Bool in
            guard !stopped else { return false }
            body(Request(test: test))
            return true
        }
        if !ran { test.deliver(.error(.ENOTCONN)) }
        return test
    }

    private func make(_ operation: String, _ caller: RequestContext?, inode: Inode? = nil, flags: Int32 = 0) -> TestRequest {
        TestRequest(session: self, operation: operation, context: caller ?? self.caller, inode: inode, flags: flags)
    }

    /// `lookup`: answered with `.entry` or `.error`.
    @discardableResult
    public func lookup(parent: Inode, name: String, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("lookup", caller)) { fileSystem.lookup($0, parent: parent, name: FileName(name)) }
    }

    /// `lookup` of a name given as raw bytes (not necessarily UTF-8).
    @discardableResult
    public func lookup(parent: Inode, bytes: [UInt8], as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("lookup", caller)) { fileSystem.lookup($0, parent: parent, name: FileName(bytes: bytes)) }
    }

    /// `forget`: takes no answer.
    public func forget(inode: Inode, lookups: UInt64 = 1) {
        loop.withLock { stopped in
            if !stopped { fileSystem.forget(inode: inode, lookups: lookups) }
        }
    }

    @discardableResult
    public func getattr(inode: Inode, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("getattr", caller)) { fileSystem.getattr($0, inode: inode) }
    }

    /// `setattr`; `file` when the change comes through an open file (`ftruncate`).
    @discardableResult
    public func setattr(inode: Inode, changes: SetAttributes, file: File? = nil, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("setattr", caller)) { fileSystem.setattr($0, inode: inode, changes: changes, handle: file?.handle) }
    }

    @discardableResult
    public func mkdir(parent: Inode, name: String, mode: UInt32 = 0o755, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("mkdir", caller)) { fileSystem.mkdir($0, parent: parent, name: FileName(name), mode: mode) }
    }

    @discardableResult
    public func rmdir(parent: Inode, name: String, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("rmdir", caller)) { fileSystem.rmdir($0, parent: parent, name: FileName(name)) }
    }

    @discardableResult
    public func unlink(parent: Inode, name: String, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("unlink", caller)) { fileSystem.unlink($0, parent: parent, name: FileName(name)) }
    }

    @discardableResult
    public func rename(parent: Inode, name: String, newParent: Inode, newName: String, flags: UInt32 = 0,
                       as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("rename", caller)) {
            fileSystem.rename($0, parent: parent, name: FileName(name), newParent: newParent, newName: FileName(newName), flags: flags)
        }
    }

    /// `open(O_CREAT)` of a new name; ``TestRequest/file`` gives the open file.
    @discardableResult
    public func create(parent: Inode, name: String, mode: UInt32 = 0o644, flags: Int32 = O_RDWR | O_CREAT,
                       as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("create", caller, flags: flags)) {
            fileSystem.create($0, parent: parent, name: FileName(name), mode: mode, info: FileInfo(flags: flags))
        }
    }

    /// `open`; ``TestRequest/file`` gives the open file to pass to later operations.
    @discardableResult
    public func open(inode: Inode, flags: Int32 = O_RDONLY, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("open", caller, inode: inode, flags: flags)) { fileSystem.open($0, inode: inode, info: FileInfo(flags: flags)) }
    }

    /// `read` on an open file; `flags` are the file's current flags (those it was opened with
    /// unless given).
    @discardableResult
    public func read(_ file: File, size: Int = 65_536, offset: Int64 = 0, flags: Int32? = nil,
                     as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("read", caller)) {
            fileSystem.read($0, inode: file.inode, handle: file.handle, size: size, offset: offset,
                            info: FileInfo(flags: flags ?? file.flags))
        }
    }

    /// `write` of `data` on an open file.
    @discardableResult
    public func write(_ file: File, _ data: [UInt8], offset: Int64 = 0, flags: Int32? = nil,
                      as caller: RequestContext? = nil) -> TestRequest {
        let request = make("write", caller)
        return data.withUnsafeBytes { bytes in
            dispatch(request) {
                fileSystem.write($0, inode: file.inode, handle: file.handle, data: bytes, offset: offset,
                                 info: FileInfo(flags: flags ?? file.flags))
            }
        }
    }

    /// `write` of `text` as UTF-8.
    @discardableResult
    public func write(_ file: File, _ text: String, offset: Int64 = 0, flags: Int32? = nil,
                      as caller: RequestContext? = nil) -> TestRequest {
        write(file, Array(text.utf8), offset: offset, flags: flags, as: caller)
    }

    /// `fallocate` of `length` bytes at `offset` on an open file.
    @discardableResult
    public func fallocate(_ file: File, mode: Int32 = 0, offset: Int64 = 0, length: Int64, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("fallocate", caller)) {
            fileSystem.fallocate($0, inode: file.inode, handle: file.handle, mode: mode, offset: offset, length: length)
        }
    }

    /// `flush`: each `close()` of a descriptor.
    @discardableResult
    public func flush(_ file: File, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("flush", caller)) { fileSystem.flush($0, inode: file.inode, handle: file.handle) }
    }

    /// `release`: the last close. The session then gives up its hold on the handle.
    @discardableResult
    public func release(_ file: File, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("release", caller)) { request in
            fileSystem.release(request, inode: file.inode, handle: file.handle)
            returnHandle(file)
        }
    }

    /// `opendir`; ``TestRequest/file`` gives the open directory.
    @discardableResult
    public func opendir(inode: Inode, flags: Int32 = O_RDONLY | O_DIRECTORY, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("opendir", caller, inode: inode, flags: flags)) { fileSystem.opendir($0, inode: inode, info: FileInfo(flags: flags)) }
    }

    /// `readdir` from `offset` (0, or the cookie of the last entry read).
    @discardableResult
    public func readdir(_ directory: File, size: Int = 4096, offset: Int64 = 0, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("readdir", caller)) {
            fileSystem.readdir($0, inode: directory.inode, handle: directory.handle, size: size, offset: offset)
        }
    }

    @discardableResult
    public func readdirplus(_ directory: File, size: Int = 4096, offset: Int64 = 0, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("readdirplus", caller)) {
            fileSystem.readdirplus($0, inode: directory.inode, handle: directory.handle, size: size, offset: offset)
        }
    }

    @discardableResult
    public func releasedir(_ directory: File, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("releasedir", caller)) { request in
            fileSystem.releasedir(request, inode: directory.inode, handle: directory.handle)
            returnHandle(directory)
        }
    }

    /// `poll`, with a ``PollHandle`` unless the poller asks for no notification; the returned
    /// request records the handle's notification (``TestRequest/pollNotification()``).
    @discardableResult
    public func poll(_ file: File, notify: Bool = true, as caller: RequestContext? = nil) -> TestRequest {
        let test = make("poll", caller)
        let handle = notify ? PollHandle(test: test) : nil
        return dispatch(test) { fileSystem.poll($0, inode: file.inode, handle: file.handle, pollHandle: handle) }
    }

    @discardableResult
    public func statfs(inode: Inode = 1, as caller: RequestContext? = nil) -> TestRequest {
        dispatch(make("statfs", caller)) { fileSystem.statfs($0, inode: inode) }
    }

    /// The end of `release`/`releasedir`: the handle lent with the open reply comes back.
    private func returnHandle(_ file: File) {
        if gate.takeBack(file.fh) { Request.releaseHandle(file.fh) }
    }

    // MARK: Interrupts, parking, shutdown

    /// The kernel's `INTERRUPT` for `request` (the caller got a signal): runs its registered
    /// interrupt callback, which answers `EINTR` unless the request was answered first; with
    /// none registered yet, one registered later runs at once. Call from any thread.
    public func interrupt(_ request: TestRequest) {
        loop.withLock { stopped in
            if !stopped { request.interrupt() }
        }
    }

    /// Requests parked as ``PendingRequest`` right now.
    public var parkedCount: Int { pending.count }

    /// Returns once at least `count` requests are parked (for a handler that parks from a
    /// task). A request counts as parked from inside ``PendingRequest``'s `init`: the filesystem
    /// may not have put it in its own lists yet.
    public func waitUntilParked(_ count: Int = 1) async throws {
        try await parked.wait { $0 >= count }
    }

    /// Open handles the session holds (given with an open reply, not yet released).
    public var openHandleCount: Int { gate.lentCount }

    /// True once ``stop()`` has begun.
    public var isStopped: Bool { stopping.withLock { $0 } }

    /// Stops as a kernel session does: ``FileSystem/sessionWillStop()``, every parked request
    /// answered `EIO` (a later park gets `EIO` at once), the loop ended (waiting for a handler
    /// that is running), later answers dropped, the open handles given back. Runs on a thread
    /// of its own (the filesystem's `sessionWillStop` may block); idempotent.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                self.stopOnThisThread()
                continuation.resume()
            }.start()
        }
    }

    /// ``stop()`` on the calling thread: from a thread of your own, or a task when the
    /// filesystem's `sessionWillStop` does not block.
    public func stopOnThisThread() {
        let first = stopping.withLock { stopping -> Bool in
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        fileSystem.sessionWillStop()
        pending.closeAndAnswerAll(with: .EIO)
        loop.withLock { $0 = true }
        gate.close()
        for fh in gate.takeBackAll() { Request.releaseHandle(fh) }
    }

    // MARK: Kernel cache invalidation

    /// Records a request to forget the kernel's cached `name` in `parent`.
    public func invalidateEntry(parent: Inode, name: String) {
        gate.ifOpen { invalidationLog.update { $0.append(.entry(parent: parent, name: name)) } }
    }

    /// Records a request to forget the kernel's cached attributes (and data) of `inode`.
    public func invalidateInode(_ inode: Inode, dataToo: Bool = false) {
        gate.ifOpen { invalidationLog.update { $0.append(.inode(inode, dataToo: dataToo)) } }
    }

    /// The invalidations asked for so far, oldest first.
    public var invalidations: [Invalidation] { invalidationLog.value }

    /// Returns once at least `count` invalidations were asked for.
    public func waitForInvalidations(_ count: Int) async throws {
        try await invalidationLog.wait { $0.count >= count }
    }

    // MARK: Open files

    /// An open file or directory, what the kernel hands back with each request on it: its
    /// inode, the handle the filesystem gave with the open reply, the flags it was opened with.
    /// Get one from ``TestRequest/file``.
    public struct File: @unchecked Sendable {
        public let inode: Inode
        /// The object given to `reply(open:)`/`reply(create:)`, nil if none.
        public let handle: AnyObject?
        public let flags: Int32
        public let options: OpenOptions

        public init(inode: Inode, handle: AnyObject?, flags: Int32, options: OpenOptions = []) {
            self.inode = inode
            self.handle = handle
            self.flags = flags
            self.options = options
        }

        /// The `fi->fh` the kernel path gives for this handle (the object's address).
        var fh: UInt64 { handle.map { UInt64(UInt(bitPattern: Unmanaged.passUnretained($0).toOpaque())) } ?? 0 }
    }
}
