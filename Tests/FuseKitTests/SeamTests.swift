@testable import FuseKit
import CFuse3
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The in-process session: each operation reaches the filesystem and its answer comes back as
/// a `Reply`, through the same gate, parking and handle code as a kernel session.
@Suite("in-process session")
struct SeamTests {
    @Test func lookupAndAttributes() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let found = try await session.lookup(parent: 1, name: "stream").reply
        #expect(found.entry?.attributes.inode == StreamFileSystem.stream)
        #expect(found.entry?.entryTimeout == 1)
        #expect(try await session.lookup(parent: 1, name: "missing").reply == .error(.ENOENT))
        #expect(try await session.lookup(parent: 2, name: "x").reply.errno == .ENOTDIR)
        let attributes = try await session.getattr(inode: 3).reply
        #expect(attributes == .attributes(FileAttributes(inode: 3, kind: .directory, permissions: 0o755, linkCount: 2), timeout: 1))
        #expect(try await session.open(inode: 1).reply == .error(.EISDIR))
        // Defaults of the protocol extension.
        #expect(try await session.mkdir(parent: 1, name: "new").reply == .error(.EPERM))
        #expect(try await session.statfs().reply == .statistics(FilesystemStatistics(files: 0, freeFiles: 0, maxNameLength: 255)))
        await session.stop()
    }

    @Test func openWriteFlushRead() async throws {
        let fileSystem = StreamFileSystem()
        let session = InProcessSession(fileSystem: fileSystem)
        let file = try await session.open(inode: StreamFileSystem.stream, flags: O_RDWR).file
        #expect(file.inode == StreamFileSystem.stream && file.flags == O_RDWR)
        #expect(file.options == [.directIO, .nonSeekable])
        #expect(file.handle is StreamFileSystem.Handle)
        #expect(try await session.write(file, "hello\n").reply == .written(6))
        #expect(try await session.flush(file).reply == .ok)
        #expect(try await session.read(file, size: 100).reply.text == "hello\n")
        // Nothing left: a non-blocking read says so at once.
        #expect(try await session.read(file, flags: O_RDWR | O_NONBLOCK).reply == .error(.EAGAIN))
        #expect(try await session.release(file).reply == .ok)
        await session.stop()
    }

    @Test func parkedReadAnsweredByALaterWrite() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let reader = try await session.open(inode: StreamFileSystem.stream).file
        let writer = try await session.open(inode: StreamFileSystem.stream, flags: O_WRONLY).file
        let read = session.read(reader)
        #expect(read.answer == nil && session.parkedCount == 1)
        // The answer comes from another thread.
        let written = await Threads.run { session.write(writer, "late") }
        #expect(try await written.reply == .written(4))
        #expect(try await read.reply == .data(Array("late".utf8)))
        #expect(read.replyCount == 1 && session.parkedCount == 0)
        await session.stop()
    }

    @Test func callerIsTheOneNamed() async throws {
        /// Answers `lookup` with the caller's uid as the errno.
        final class Recorder: FileSystem, @unchecked Sendable {
            func lookup(_ request: consuming Request, parent: Inode, name: FileName) {
                let caller = request.context
                request.reply(error: Errno(Int32(caller.uid)))
            }
            func getattr(_ request: consuming Request, inode: Inode) { request.reply(error: .ENOENT) }
            func open(_ request: consuming Request, inode: Inode, info: FileInfo) { request.reply(error: .ENOENT) }
            func read(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64, info: FileInfo) {
                request.reply(error: .EBADF)
            }
            func readdir(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64) {
                request.reply(error: .ENOTDIR)
            }
        }
        let session = InProcessSession(fileSystem: Recorder(), caller: RequestContext(uid: 7, gid: 7))
        #expect(try await session.lookup(parent: 1, name: "x").reply == .error(Errno(7)))
        #expect(try await session.lookup(parent: 1, name: "x", as: RequestContext(uid: 9, gid: 9)).reply == .error(Errno(9)))
        session.caller = RequestContext(uid: 11, gid: 11, pid: 42)
        let request = session.lookup(parent: 1, name: "x")
        #expect(request.context.pid == 42)
        #expect(try await request.reply == .error(Errno(11)))
    }

    @Test func directoryListingIsCutWhereTheKernelWouldCutIt() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let directory = try await session.opendir(inode: StreamFileSystem.directory).file
        #expect(directory.handle == nil)
        // A one-letter name takes 32 bytes (24 of header, padded to 8): 3 fit in 100.
        let first = try await session.readdir(directory, size: 100).reply
        #expect(first == .directory([
            ListedEntry(name: "a", inode: 100, kind: .regular, cookie: 1),
            ListedEntry(name: "b", inode: 101, kind: .regular, cookie: 2),
            ListedEntry(name: "c", inode: 102, kind: .regular, cookie: 3),
        ]))
        let next = try await session.readdir(directory, size: 100, offset: first.listing!.last!.cookie).reply
        #expect(next.listing?.map(\.name) == ["d", "e", "f"])
        let end = try await session.readdir(directory, size: 4096, offset: 26).reply
        #expect(end == .directory([]))
        // With attributes an entry takes 160 bytes (the 128-byte entry_out in front): 2 fit in 400.
        let plus = try await session.readdirplus(directory, size: 400).reply
        #expect(plus.listing?.map(\.name) == ["a", "b"])
        #expect(plus.listing?[0].attributes?.attributes.inode == 100 && plus.listing?[0].attributes?.attributeTimeout == 3)
        #expect(plus.listing?[1].attributes == nil)
        #expect(try await session.releasedir(directory).reply == .ok)
        await session.stop()
    }

    @Test func handlesComeBackAsGivenAndAreFreedOnRelease() async throws {
        let fileSystem = StreamFileSystem()
        let session = InProcessSession(fileSystem: fileSystem)
        weak var freed: StreamFileSystem.Handle?
        do {
            let opening = session.open(inode: StreamFileSystem.stream, flags: O_RDWR)
            let file = try await opening.file
            freed = file.handle as? StreamFileSystem.Handle
            #expect(session.openHandleCount == 1)
            _ = try await session.write(file, "x").reply
            _ = try await session.read(file).reply
            _ = try await session.flush(file).reply
            _ = try await session.release(file).reply
            let id = ObjectIdentifier(file.handle!)
            #expect(fileSystem.state.withLock { $0.seen.map(\.operation) } == ["write", "read", "flush", "release"])
            #expect(fileSystem.state.withLock { $0.seen.allSatisfy { $0.handle == id } })
            #expect(session.openHandleCount == 0)
        }
        #expect(freed == nil, "the session let go of the handle at release")
        await session.stop()
    }

    @Test func handlesStillOpenAreFreedAtStop() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        weak var freed: StreamFileSystem.Handle?
        do {
            let file = try await session.open(inode: StreamFileSystem.stream).file
            freed = file.handle as? StreamFileSystem.Handle
        }
        #expect(freed != nil, "held for the kernel until release or stop")
        await session.stop()
        #expect(freed == nil && session.openHandleCount == 0)
    }

    @Test func pollHandleIsNotifiedOnce() async throws {
        let fileSystem = StreamFileSystem()
        let session = InProcessSession(fileSystem: fileSystem)
        let file = try await session.open(inode: StreamFileSystem.stream, flags: O_RDWR).file
        let poll = session.poll(file)
        #expect(try await poll.reply == .poll([.writable]))
        #expect(poll.pollNotifications == 0)
        let handle = try #require(fileSystem.state.withLock { $0.pollHandle })
        await Threads.race(4) { _ in handle.notify() }
        try await poll.pollNotification()
        #expect(poll.pollNotifications == 1 && !poll.pollHandleDestroyed)
        // An unused handle is destroyed when the filesystem lets go of it.
        let unused = session.poll(file)
        fileSystem.state.withLock { $0.pollHandle = nil }
        #expect(unused.pollHandleDestroyed && unused.pollNotifications == 0)
        #expect(session.poll(file, notify: false).pollNotifications == 0)
        await session.stop()
    }

    @Test func invalidationsAreRecordedUntilStop() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        await Threads.run { session.invalidateEntry(parent: 1, name: "stream") }
        session.invalidateInode(2, dataToo: true)
        try await session.waitForInvalidations(2)
        #expect(session.invalidations == [.entry(parent: 1, name: "stream"), .inode(2, dataToo: true)])
        await session.stop()
        session.invalidateInode(3)
        #expect(session.invalidations.count == 2, "dropped after stop, as a kernel session drops it")
    }

    @Test func afterStopRequestsGetENOTCONNWithoutReachingTheFileSystem() async throws {
        let fileSystem = StreamFileSystem()
        let session = InProcessSession(fileSystem: fileSystem)
        await session.stop()
        await session.stop()  // idempotent
        #expect(fileSystem.state.withLock { $0.stopCalls } == 1)
        #expect(try await session.lookup(parent: 1, name: "stream").reply == .error(.ENOTCONN))
        #expect(session.isStopped)
    }

    @Test func everyReplyMethodIsRecordedAsItsReply() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let node = FileAttributes(inode: 9, kind: .regular, permissions: 0o600, size: 3)
        let entry = Entry(attributes: node, entryTimeout: 0.5, attributeTimeout: 0.25)
        #expect(try await session.send("forget") { $0.replyNone() }.reply == .noReply)
        #expect(try await session.send("unlink") { $0.replyOK() }.reply == .ok)
        #expect(try await session.send("mkdir") { $0.reply(entry: entry) }.reply == .entry(entry))
        #expect(try await session.send("setattr") { $0.reply(attributes: node, timeout: 2) }.reply == .attributes(node, timeout: 2))
        #expect(try await session.send("write") { $0.reply(written: 3) }.reply.written == 3)
        #expect(try await session.send("read") { $0.reply(bytes: []) }.reply == .data([]))
        #expect(try await session.send("poll") { $0.reply(poll: .hangup) }.reply.pollEvents == .hangup)
        #expect(try await session.send("listxattr") { $0.reply(xattrSize: 12) }.reply == .xattrSize(12))
        // create: the node and an open handle, lent until release like open's.
        let handle = StreamFileSystem.Handle(serial: 1)
        let creating = session.send("create") { $0.reply(create: entry, handle: handle, options: .keepCache) }
        #expect(try await creating.reply == .create(entry, handle: OpenHandle(handle), options: .keepCache))
        let file = try await creating.file
        #expect(file.inode == 9 && file.handle === handle && session.openHandleCount == 1)
        _ = try await session.release(file).reply
        #expect(session.openHandleCount == 0)
        await #expect(throws: Errno.ENOENT) { try await session.open(inode: 99).file }
        await #expect(throws: TestRequest.NotOpened.self) { try await session.getattr(inode: 1).file }
        await session.stop()
    }

    @Test func capabilitiesSetTheConnectionsWants() {
        var conn = fuse_conn_info()
        let all = cfuse_cap_writeback_cache() | cfuse_cap_splice_read() | cfuse_cap_splice_write() | cfuse_cap_splice_move()
        conn.capable = all
        conn.want = cfuse_cap_splice_write() | cfuse_cap_splice_move()  // what libfuse wants by default
        FuseSession.Capabilities().apply(to: &conn)
        #expect(conn.want == cfuse_cap_splice_write() | cfuse_cap_splice_move(), "the defaults leave libfuse's choice")
        FuseSession.Capabilities(writebackCache: true).apply(to: &conn)
        #expect(conn.want & cfuse_cap_writeback_cache() != 0)
        FuseSession.Capabilities(writebackCache: false, splice: false).apply(to: &conn)
        #expect(conn.want & all == 0)
        conn.capable = 0
        FuseSession.Capabilities(writebackCache: true).apply(to: &conn)
        #expect(conn.want & cfuse_cap_writeback_cache() == 0, "only what the kernel offers")
    }
}
