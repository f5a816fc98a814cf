import CFuse3
#if canImport(Glibc)
import Glibc
#endif

/// One request that must be answered exactly once.
///
/// `Request` is non-copyable and every reply method is `consuming`, so the compiler rejects a
/// second reply. It is `Sendable`: a handler may answer at once on the FUSE thread, or move the
/// request into a task, a ``PendingRequest`` (parked, interruptible) or anywhere else and answer
/// later from any thread. A request dropped without an answer is answered `EIO` by `deinit` and
/// logged, so the caller never hangs.
///
/// A request goes to one of two places (its `Backend`): the kernel, through `fuse_reply_*` on
/// the raw `fuse_req_t` (no allocation, no existential: the test branch is one enum case that
/// the kernel path never takes), or a ``TestRequest`` made by an ``InProcessSession``, which
/// records the answer as a ``Reply``. Both go through the same code: the session's reply gate,
/// the interrupt registration, the open-handle bookkeeping, the directory-listing fit.
///
/// Replies after the session has shut down are dropped safely (see `ReplyGate`).
///
/// One reply type per operation (fuser's `ReplyEntry`, `ReplyData`…), so that a wrong kind of
/// answer would not compile, is left for later on purpose: every handler, parked-reader list
/// and helper in the filesystems above takes a `Request`, so it would mean rewriting all of
/// them at once. Typed wrappers around `Request` can be added without changing this seam.
public struct Request: ~Copyable, @unchecked Sendable {
    /// Where the answer goes. Trivial (two words, no reference counting), as `discard self`
    /// requires: the request holds its test request by a manual retain, ended by `send`.
    enum Backend: @unchecked Sendable {
        case kernel(OpaquePointer)
        case test(Unmanaged<TestRequest>)

        /// The `fuse_req_t`, nil for a test request.
        var raw: OpaquePointer? {
            if case .kernel(let raw) = self { return raw }
            return nil
        }
    }

    let backend: Backend
    let gate: Unmanaged<ReplyGate>
    /// Set while an interrupt callback is registered for this request (see ``PendingRequest``).
    var interruptRegistration: Unmanaged<PendingRequest>?

    init(raw: OpaquePointer, gate: Unmanaged<ReplyGate>) {
        self.backend = .kernel(raw)
        self.gate = gate
        self.interruptRegistration = nil
    }

    /// A request whose answer `test` records (see ``InProcessSession``).
    init(test: TestRequest) {
        self.backend = .test(Unmanaged.passRetained(test))
        self.gate = Unmanaged.passUnretained(test.session.gate)  // the test request keeps it alive
        self.interruptRegistration = nil
    }

    /// Who sent the request.
    public var context: RequestContext {
        switch backend {
        case .kernel(let raw):
            let ctx = fuse_req_ctx(raw)!.pointee
            return RequestContext(uid: ctx.uid, gid: ctx.gid, pid: ctx.pid, umask: UInt32(ctx.umask))
        case .test(let test):
            return test.takeUnretainedValue().context
        }
    }

    /// True once the kernel has asked to interrupt this request.
    public var isInterrupted: Bool {
        switch backend {
        case .kernel(let raw): return fuse_req_interrupted(raw) != 0
        case .test(let test): return test.takeUnretainedValue().isInterrupted
        }
    }

    /// The parked requests of this request's session.
    var pendingRegistry: PendingRegistry {
        switch backend {
        case .kernel(let raw): return SessionCore.from(raw).pending
        case .test(let test): return test.takeUnretainedValue().session.pending
        }
    }

    deinit {
        FuseLog.logger.error("request dropped without a reply; answering EIO")
        if case .test(let test) = backend { test.takeUnretainedValue().noteDroppedWithoutReply() }
        Request.send(backend, gate: gate, registration: interruptRegistration, .error(.EIO)) { fuse_reply_err($0, Glibc.EIO) }
    }

    /// Unregisters the interrupt callback (waiting out one that is running), then sends the
    /// answer under the gate: `kernel` on the kernel path, `reply` (evaluated only there) to a
    /// test request. Returns what `kernel` returned (0 for a test request), nil if the session
    /// had shut down and the answer was dropped.
    @inline(__always)
    @discardableResult
    static func send(_ backend: Backend, gate: Unmanaged<ReplyGate>, registration: Unmanaged<PendingRequest>?,
                     _ reply: @autoclosure () -> Reply, _ kernel: (OpaquePointer) -> Int32) -> Int32? {
        let gate = gate.takeUnretainedValue()
        var result: Int32?
        switch backend {
        case .kernel(let raw):
            if let registration {
                gate.ifOpen { fuse_req_interrupt_func(raw, nil, nil) }
                registration.release()
            }
            gate.ifOpen { result = kernel(raw) }
        case .test(let unmanaged):
            let test = unmanaged.takeRetainedValue()  // the request's hold on it ends here
            if let registration {
                gate.ifOpen { test.unregisterInterrupt() }
                registration.release()
            }
            let answer = reply()
            if !gate.ifOpen({ test.deliver(answer); result = 0 }) { test.noteDropped(answer) }
        }
        return result
    }

    /// Registers `pending`'s interrupt callback (run at once if the interrupt already came).
    static func registerInterrupt(_ backend: Backend, gate: Unmanaged<ReplyGate>, _ pending: PendingRequest) {
        let data = Unmanaged.passUnretained(pending).toOpaque()
        gate.takeUnretainedValue().ifOpen {
            switch backend {
            case .kernel(let raw): fuse_req_interrupt_func(raw, pendingInterruptCallback, data)
            case .test(let test):
                let test = test.takeUnretainedValue()
                test.registerInterrupt(data)
            }
        }
    }

    @inline(__always)
    @discardableResult
    private consuming func finish(_ reply: @autoclosure () -> Reply, _ kernel: (OpaquePointer) -> Int32) -> Int32? {
        let backend = self.backend, gate = self.gate, registration = self.interruptRegistration
        discard self
        return Request.send(backend, gate: gate, registration: registration, reply(), kernel)
    }

    // MARK: Replies

    /// Answers with an error (`EINTR`, `ENOENT`…).
    public consuming func reply(error: Errno) {
        finish(.error(error)) { fuse_reply_err($0, error.rawValue) }
    }

    /// Answers success with no data (flush, release, unlink, rmdir, rename, setxattr…).
    public consuming func replyOK() {
        finish(.ok) { fuse_reply_err($0, 0) }
    }

    /// Answers `forget`, which takes no reply.
    public consuming func replyNone() {
        finish(.noReply) { fuse_reply_none($0); return 0 }
    }

    /// Answers `lookup`, `mkdir`, `mknod` with a node.
    public consuming func reply(entry: Entry) {
        var param = Request.entryParam(entry)
        finish(.entry(entry)) { fuse_reply_entry($0, &param) }
    }

    /// Answers `getattr`/`setattr`.
    public consuming func reply(attributes: FileAttributes, timeout: Double) {
        var st = attributes.stat
        finish(.attributes(attributes, timeout: timeout)) { fuse_reply_attr($0, &st, timeout) }
    }

    /// Answers `open`/`opendir`. `handle` is retained until `release`/`releasedir` and handed
    /// back with every request on that open file.
    public consuming func reply(open handle: AnyObject?, options: OpenOptions = []) {
        var fi = Request.fileInfo(handle: handle, options: options)
        let retained = fi.fh, gate = self.gate.takeUnretainedValue()
        gate.lend(retained)  // before the kernel has it: its release may come at once
        let result = finish(.open(handle: handle.map(OpenHandle.init), options: options)) { fuse_reply_open($0, &fi) }
        // Not given: -ENOENT, the opener was interrupted and no release will come for this
        // handle; nil, the session ended first. Nobody else will release it.
        if result == nil || result == -Glibc.ENOENT, gate.takeBack(retained) { Request.releaseHandle(retained) }
    }

    /// Answers `create` with the new node and its open handle.
    public consuming func reply(create entry: Entry, handle: AnyObject?, options: OpenOptions = []) {
        var param = Request.entryParam(entry)
        var fi = Request.fileInfo(handle: handle, options: options)
        let retained = fi.fh, gate = self.gate.takeUnretainedValue()
        gate.lend(retained)
        let result = finish(.create(entry, handle: handle.map(OpenHandle.init), options: options)) {
            fuse_reply_create($0, &param, &fi)
        }
        if result == nil || result == -Glibc.ENOENT, gate.takeBack(retained) { Request.releaseHandle(retained) }
    }

    /// Answers `write` with the number of bytes taken.
    public consuming func reply(written count: Int) {
        finish(.written(count)) { fuse_reply_write($0, count) }
    }

    /// Answers `read` with bytes; an empty array is end of file.
    public consuming func reply(bytes: [UInt8]) {
        let backend = self.backend, gate = self.gate, registration = self.interruptRegistration
        discard self
        _ = bytes.withUnsafeBufferPointer { buffer in
            Request.send(backend, gate: gate, registration: registration, .data(bytes)) {
                fuse_reply_buf($0, UnsafeRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self), buffer.count)
            }
        }
    }

    /// Answers `readdir` with the entries of `listing` from index `offset` on, as many as fit in
    /// `maxSize` bytes. Each entry's cookie is its index + 1, so a listing taken once per open
    /// directory gives every reader a stable cursor.
    public consuming func reply(directory listing: [DirectoryEntry], offset: Int, maxSize: Int) {
        let backend = self.backend, gate = self.gate, registration = self.interruptRegistration
        discard self
        // A test request sizes each entry without a buffer (libfuse's encoders then only return
        // the size they need), so both paths cut the listing at the same entry.
        let raw = backend.raw
        var buffer = [CChar](repeating: 0, count: raw == nil ? 0 : maxSize)
        var used = 0
        let start = max(0, offset)
        var index = start
        var st = Glibc.stat()
        while index < listing.count {
            let entry = listing[index]
            st.st_ino = UInt(entry.inode)
            st.st_mode = entry.kind.modeBits
            let needed = buffer.withUnsafeMutableBufferPointer { buf in
                fuse_add_direntry(raw, raw == nil ? nil : buf.baseAddress! + used, maxSize - used, entry.name, &st, off_t(index + 1))
            }
            if needed > maxSize - used { break }
            used += needed
            index += 1
        }
        let end = index
        _ = buffer.withUnsafeBufferPointer { buf in
            Request.send(backend, gate: gate, registration: registration,
                         .directory((start..<end).map { ListedEntry(listing[$0], cookie: Int64($0 + 1)) })) {
                fuse_reply_buf($0, buf.baseAddress, used)
            }
        }
    }

    /// Answers `readdirplus` with the entries of `listing` from index `offset` on, each with its
    /// attributes (`nil`: the entry's name and type only, not cached), as many as fit in `maxSize`
    /// bytes. The kernel then needs no `lookup` per entry (what `ls -l` would cost). Every entry
    /// given attributes counts as a lookup of its inode (see `forget`).
    public consuming func reply(directoryPlus listing: [(entry: DirectoryEntry, attributes: Entry?)], offset: Int, maxSize: Int) {
        let backend = self.backend, gate = self.gate, registration = self.interruptRegistration
        discard self
        let raw = backend.raw
        var buffer = [CChar](repeating: 0, count: raw == nil ? 0 : maxSize)
        var used = 0
        let start = max(0, offset)
        var index = start
        while index < listing.count {
            let (entry, attributes) = listing[index]
            var param: fuse_entry_param
            if let attributes {
                param = Request.entryParam(attributes)
            } else {
                var st = Glibc.stat()
                st.st_ino = UInt(entry.inode)
                st.st_mode = entry.kind.modeBits
                param = fuse_entry_param()
                cfuse_entry_fill(&param, 0, &st, 0, 0)
            }
            let needed = buffer.withUnsafeMutableBufferPointer { buf in
                fuse_add_direntry_plus(raw, raw == nil ? nil : buf.baseAddress! + used, maxSize - used, entry.name, &param, off_t(index + 1))
            }
            if needed > maxSize - used { break }
            used += needed
            index += 1
        }
        let end = index
        _ = buffer.withUnsafeBufferPointer { buf in
            Request.send(backend, gate: gate, registration: registration,
                         .directoryPlus((start..<end).map {
                             ListedEntry(listing[$0].entry, cookie: Int64($0 + 1), attributes: listing[$0].attributes)
                         })) {
                fuse_reply_buf($0, buf.baseAddress, used)
            }
        }
    }

    /// Answers `poll` with the current readiness.
    public consuming func reply(poll events: PollEvents) {
        finish(.poll(events)) { fuse_reply_poll($0, events.rawValue) }
    }

    /// Answers `statfs`.
    public consuming func reply(statistics: FilesystemStatistics) {
        var st = statvfs()
        st.f_bsize = statistics.blockSize
        st.f_frsize = statistics.blockSize
        st.f_files = UInt(statistics.files)
        st.f_ffree = UInt(statistics.freeFiles)
        st.f_favail = UInt(statistics.freeFiles)
        st.f_namemax = statistics.maxNameLength
        finish(.statistics(statistics)) { fuse_reply_statfs($0, &st) }
    }

    /// Answers `getxattr`/`listxattr` asked with size 0: the size the value would need.
    public consuming func reply(xattrSize: Int) {
        finish(.xattrSize(xattrSize)) { fuse_reply_xattr($0, xattrSize) }
    }

    // MARK: Handles and entries

    static func entryParam(_ entry: Entry) -> fuse_entry_param {
        var st = entry.attributes.stat
        var param = fuse_entry_param()
        cfuse_entry_fill(&param, fuse_ino_t(entry.attributes.inode), &st, entry.attributeTimeout, entry.entryTimeout)
        return param
    }

    static func fileInfo(handle: AnyObject?, options: OpenOptions) -> fuse_file_info {
        var fi = fuse_file_info()
        if let handle { fi.fh = UInt64(UInt(bitPattern: Unmanaged.passRetained(handle).toOpaque())) }
        cfuse_fi_set_direct_io(&fi, options.contains(.directIO) ? 1 : 0)
        cfuse_fi_set_nonseekable(&fi, options.contains(.nonSeekable) ? 1 : 0)
        cfuse_fi_set_keep_cache(&fi, options.contains(.keepCache) ? 1 : 0)
        cfuse_fi_set_cache_readdir(&fi, options.contains(.cacheDirectory) ? 1 : 0)
        return fi
    }

    static func handle(_ fh: UInt64) -> AnyObject? {
        guard fh != 0, let pointer = UnsafeRawPointer(bitPattern: UInt(fh)) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(pointer).takeUnretainedValue()
    }

    static func releaseHandle(_ fh: UInt64) {
        guard fh != 0, let pointer = UnsafeRawPointer(bitPattern: UInt(fh)) else { return }
        Unmanaged<AnyObject>.fromOpaque(pointer).release()
    }
}
