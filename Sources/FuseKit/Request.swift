import CFuse3
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One kernel request that must be answered exactly once.
///
/// `Request` is non-copyable and every reply method is `consuming`, so the compiler rejects a
/// second reply. It is `Sendable`: a handler may answer at once on the FUSE thread, or move the
/// request into a task, a ``PendingRequest`` (parked, interruptible) or anywhere else and answer
/// later from any thread. A request dropped without an answer is answered `EIO` by `deinit` and
/// logged, so the caller never hangs.
///
/// Replies after the session has shut down are dropped safely (see `ReplyGate`).
public struct Request: ~Copyable, @unchecked Sendable {
    let raw: OpaquePointer
    let gate: Unmanaged<ReplyGate>
    /// Set while an interrupt callback is registered for this request (see ``PendingRequest``).
    var interruptRegistration: Unmanaged<PendingRequest>?

    init(raw: OpaquePointer, gate: Unmanaged<ReplyGate>) {
        self.raw = raw
        self.gate = gate
        self.interruptRegistration = nil
    }

    /// Who sent the request.
    public var context: RequestContext {
        let ctx = fuse_req_ctx(raw)!.pointee
        return RequestContext(uid: ctx.uid, gid: ctx.gid, pid: ctx.pid, umask: UInt32(ctx.umask))
    }

    /// True once the kernel has asked to interrupt this request.
    public var isInterrupted: Bool { fuse_req_interrupted(raw) != 0 }

    deinit {
        FuseLog.logger.error("request dropped without a reply; answering EIO")
        Request.send(raw, gate: gate, registration: interruptRegistration) { fuse_reply_err($0, Glibc.EIO) }
    }

    /// Unregisters the interrupt callback (waiting out one that is running), then sends `body`
    /// under the gate.
    @inline(__always)
    static func send(_ raw: OpaquePointer, gate: Unmanaged<ReplyGate>,
                     registration: Unmanaged<PendingRequest>?, _ body: (OpaquePointer) -> Int32) {
        if let registration {
            gate.takeUnretainedValue().ifOpen { fuse_req_interrupt_func(raw, nil, nil) }
            registration.release()
        }
        gate.takeUnretainedValue().ifOpen { _ = body(raw) }
    }

    @inline(__always)
    private consuming func finish(_ body: (OpaquePointer) -> Int32) {
        let raw = self.raw, gate = self.gate, registration = self.interruptRegistration
        discard self
        Request.send(raw, gate: gate, registration: registration, body)
    }

    // MARK: Replies

    /// Answers with an error (`EINTR`, `ENOENT`…).
    public consuming func reply(error: Errno) {
        finish { fuse_reply_err($0, error.rawValue) }
    }

    /// Answers success with no data (flush, release, unlink, rmdir, rename, setxattr…).
    public consuming func replyOK() {
        finish { fuse_reply_err($0, 0) }
    }

    /// Answers `forget`, which takes no reply.
    public consuming func replyNone() {
        finish { fuse_reply_none($0); return 0 }
    }

    /// Answers `lookup`, `mkdir`, `mknod` with a node.
    public consuming func reply(entry: Entry) {
        var st = entry.attributes.stat
        var param = fuse_entry_param()
        cfuse_entry_fill(&param, fuse_ino_t(entry.attributes.inode), &st, entry.attributeTimeout, entry.entryTimeout)
        finish { fuse_reply_entry($0, &param) }
    }

    /// Answers `getattr`/`setattr`.
    public consuming func reply(attributes: FileAttributes, timeout: Double) {
        var st = attributes.stat
        finish { fuse_reply_attr($0, &st, timeout) }
    }

    /// Answers `open`/`opendir`. `handle` is retained until `release`/`releasedir` and handed
    /// back with every request on that open file.
    public consuming func reply(open handle: AnyObject?, options: OpenOptions = []) {
        var fi = Request.fileInfo(handle: handle, options: options)
        let retained = fi.fh, gate = self.gate.takeUnretainedValue()
        gate.lend(retained)  // before the kernel has it: its release may come at once
        var given = false
        finish { raw in
            let result = fuse_reply_open(raw, &fi)
            // -ENOENT: the opener was interrupted; no release will come for this handle.
            given = result != -Glibc.ENOENT
            return result
        }
        // Not given (interrupted, or the session ended first): nobody else will release it.
        if !given, gate.takeBack(retained) { Request.releaseHandle(retained) }
    }

    /// Answers `create` with the new node and its open handle.
    public consuming func reply(create entry: Entry, handle: AnyObject?, options: OpenOptions = []) {
        var st = entry.attributes.stat
        var param = fuse_entry_param()
        cfuse_entry_fill(&param, fuse_ino_t(entry.attributes.inode), &st, entry.attributeTimeout, entry.entryTimeout)
        var fi = Request.fileInfo(handle: handle, options: options)
        let retained = fi.fh, gate = self.gate.takeUnretainedValue()
        gate.lend(retained)
        var given = false
        finish { raw in
            let result = fuse_reply_create(raw, &param, &fi)
            given = result != -Glibc.ENOENT
            return result
        }
        if !given, gate.takeBack(retained) { Request.releaseHandle(retained) }
    }

    /// Answers `write` with the number of bytes taken.
    public consuming func reply(written count: Int) {
        finish { fuse_reply_write($0, count) }
    }

    /// Answers `read` with bytes; an empty array is end of file.
    public consuming func reply(bytes: [UInt8]) {
        let raw = self.raw, gate = self.gate, registration = self.interruptRegistration
        discard self
        bytes.withUnsafeBufferPointer { buffer in
            Request.send(raw, gate: gate, registration: registration) {
                fuse_reply_buf($0, UnsafeRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self), buffer.count)
            }
        }
    }

    /// Answers `readdir` with the entries of `listing` from index `offset` on, as many as fit in
    /// `maxSize` bytes. Each entry's cookie is its index + 1, so a listing taken once per open
    /// directory gives every reader a stable cursor.
    public consuming func reply(directory listing: [DirectoryEntry], offset: Int, maxSize: Int) {
        let raw = self.raw, gate = self.gate, registration = self.interruptRegistration
        discard self
        var buffer = [CChar](repeating: 0, count: maxSize)
        var used = 0
        var index = max(0, offset)
        var st = Glibc.stat()
        while index < listing.count {
            let entry = listing[index]
            st.st_ino = UInt(entry.inode)
            st.st_mode = entry.kind.modeBits
            let needed = buffer.withUnsafeMutableBufferPointer { buf in
                fuse_add_direntry(raw, buf.baseAddress! + used, maxSize - used, entry.name, &st, off_t(index + 1))
            }
            if needed > maxSize - used { break }
            used += needed
            index += 1
        }
        buffer.withUnsafeBufferPointer { buf in
            Request.send(raw, gate: gate, registration: registration) { fuse_reply_buf($0, buf.baseAddress, used) }
        }
    }

    /// Answers `readdirplus` with the entries of `listing` from index `offset` on, each with its
    /// attributes (`nil`: the entry's name and type only, not cached), as many as fit in `maxSize`
    /// bytes. The kernel then needs no `lookup` per entry (what `ls -l` would cost). Every entry
    /// given attributes counts as a lookup of its inode (see `forget`).
    public consuming func reply(directoryPlus listing: [(entry: DirectoryEntry, attributes: Entry?)], offset: Int, maxSize: Int) {
        let raw = self.raw, gate = self.gate, registration = self.interruptRegistration
        discard self
        var buffer = [CChar](repeating: 0, count: maxSize)
        var used = 0
        var index = max(0, offset)
        while index < listing.count {
            let (entry, attributes) = listing[index]
            var param = fuse_entry_param()
            if let attributes {
                var st = attributes.attributes.stat
                cfuse_entry_fill(&param, fuse_ino_t(attributes.attributes.inode), &st, attributes.attributeTimeout, attributes.entryTimeout)
            } else {
                var st = Glibc.stat()
                st.st_ino = UInt(entry.inode)
                st.st_mode = entry.kind.modeBits
                cfuse_entry_fill(&param, 0, &st, 0, 0)
            }
            let needed = buffer.withUnsafeMutableBufferPointer { buf in
                fuse_add_direntry_plus(raw, buf.baseAddress! + used, maxSize - used, entry.name, &param, off_t(index + 1))
            }
            if needed > maxSize - used { break }
            used += needed
            index += 1
        }
        buffer.withUnsafeBufferPointer { buf in
            Request.send(raw, gate: gate, registration: registration) { fuse_reply_buf($0, buf.baseAddress, used) }
        }
    }

    /// Answers `poll` with the current readiness.
    public consuming func reply(poll events: PollEvents) {
        finish { fuse_reply_poll($0, events.rawValue) }
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
        finish { fuse_reply_statfs($0, &st) }
    }

    /// Answers `getxattr`/`listxattr` asked with size 0: the size the value would need.
    public consuming func reply(xattrSize: Int) {
        finish { fuse_reply_xattr($0, xattrSize) }
    }

    // MARK: Handles

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

/// FuseKit's logger; its user may replace it (before mounting) to route or label the messages.
public enum FuseLog {
    nonisolated(unsafe) public static var logger = Logger(label: "fusekit")
}
