import CFuse3
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A mounted FUSE filesystem: mounts on creation, runs one loop thread, unmounts on ``stop()``.
///
/// The loop is a single dedicated thread (not Swift's cooperative pool): it reads a request,
/// calls the ``FileSystem``, and goes back to reading. Handlers never block, so one thread is
/// enough and is also the fastest design (no hand-off per request). Work that waits — a read
/// with nothing to return, a commit — is parked as a ``PendingRequest`` and answered later from
/// whatever thread produces the answer.
///
/// Shutdown (``stop()``, e.g. on SIGTERM): the filesystem is told to stop producing, every
/// parked request is answered `EIO`, the loop ends, the connection is closed and the mountpoint
/// unmounted (lazily, so open descriptors get `ENOTCONN` rather than a hang).
public final class FuseSession: @unchecked Sendable {
    /// Why ``init(mountpoint:options:capabilities:fileSystem:)`` failed.
    public enum MountError: Error, CustomStringConvertible {
        case sessionCreation
        case mount(String)
        public var description: String {
            switch self {
            case .sessionCreation: return "fuse_session_new failed (bad options?)"
            case .mount(let point): return "could not mount on \(point) (is /dev/fuse usable and fusermount3 installed?)"
            }
        }
    }

    public let mountpoint: String
    private let core: SessionCore
    private let session: OpaquePointer
    private let wakeFD: Int32
    /// Notices a lazy unmount from outside (nil without a mount table to watch).
    private let watch: MountWatch?
    private let state = Mutex(State())
    private let stoppedCondition = NSCondition()
    private var loopEnded = false

    /// The session's life: started, stopping, detached from outside.
    private struct State {
        var started = false
        var stopping = false
        /// The mount was detached from outside while descriptors were open on it.
        var detached = false
    }

    /// Creates the session and mounts it. `options` are `-o` mount options such as
    /// `fsname=myfs`, `allow_other`, `default_permissions`; `capabilities` are the connection
    /// features to ask the kernel for (libfuse's defaults unless given).
    public init(mountpoint: String, options: [String], capabilities: Capabilities = Capabilities(),
                fileSystem: any FileSystem) throws {
        self.mountpoint = mountpoint
        self.core = SessionCore(fileSystem: fileSystem, capabilities: capabilities)
        var ops = Callbacks.operations()
        var argv = ["fusekit"]
        if !options.isEmpty { argv += ["-o", options.joined(separator: ",")] }
        var cArgs = argv.map { strdup($0) }
        defer { cArgs.forEach { free($0) } }
        let userdata = Unmanaged.passRetained(core).toOpaque()  // lives as long as the process
        guard let se = cArgs.withUnsafeMutableBufferPointer({ buf in
            cfuse_session_new(Int32(buf.count), buf.baseAddress, &ops, userdata)
        }) else {
            throw MountError.sessionCreation
        }
        let resolved = MountWatch.resolve(mountpoint)
        guard fuse_session_mount(se, mountpoint) == 0 else {
            fuse_session_destroy(se)
            throw MountError.mount(mountpoint)
        }
        self.session = se
        core.session = se
        let fd = fuse_session_fd(se)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.wakeFD = eventfd(0, Int32(EFD_CLOEXEC))
        self.watch = MountWatch(resolvedMountpoint: resolved)
    }

    /// Starts the loop thread.
    public func start() {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let thread = Thread { [self] in self.loop() }
        thread.name = "fuse-loop"
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func loop() {
        let fd = fuse_session_fd(session)
        let buffer = cfuse_buf_new()
        defer { cfuse_buf_free(buffer) }
        // epoll rather than poll(2): the descriptors are registered once, and a wake-up asks the
        // device for readiness once, where poll(2) added itself to three wait queues and took the
        // device's lock twice for every request (17 % of this thread's time in a profile).
        let events = LoopEvents(device: fd, wake: wakeFD, mountTable: watch?.fd)
        defer { events?.close() }
        if events == nil {
            // The loop ends at once; the daemon sees it and stops as on an unmount.
            FuseLog.logger.error("the loop cannot wait for requests (epoll: \(String(cString: strerror(errno)))); stopping")
        }
        while let events, fuse_session_exited(session) == 0 {
            guard let ready = events.wait() else { break }
            if ready.contains(.wake) { break }
            if ready.contains(.mountTable), let watch, !watch.isMounted() {
                // Detached while descriptors are open: stop now (see MountWatch). Parked
                // requests get EIO from stop(), later ones ENOTCONN once the connection closes.
                FuseLog.logger.warning("the mount at \(mountpoint) was detached from outside (lazy unmount); stopping")
                state.withLock { $0.detached = true }
                break
            }
            if ready.contains(.deviceClosed) { break }
            if !ready.contains(.request) { continue }  // only the mount table changed
            let result = fuse_session_receive_buf(session, buffer)
            if result == -EINTR || result == -EAGAIN || result == -ENOENT { continue }
            if result <= 0 { break }
            fuse_session_process_buf(session, buffer)
        }
        stoppedCondition.lock()
        loopEnded = true
        stoppedCondition.broadcast()
        stoppedCondition.unlock()
    }

    /// Blocks the calling thread until the loop has ended (the filesystem was unmounted from
    /// outside, or ``stop()`` ran). Call it from a dedicated thread, never a task.
    public func waitUntilLoopEnds() {
        stoppedCondition.lock()
        while !loopEnded { stoppedCondition.wait() }
        stoppedCondition.unlock()
    }

    /// Answers every parked request, ends the loop, unmounts and frees the session. Idempotent;
    /// call from any thread but the loop thread.
    public func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        core.fileSystem.sessionWillStop()
        core.pending.closeAndAnswerAll(with: .EIO)
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
        if state.withLock({ $0.started }) { waitUntilLoopEnds() }
        // Detached already while files were open: unmounting by path could take down another
        // mount made there since, so libfuse's copy of the path stays allocated instead. (Once
        // the connection is gone, POLLERR, libfuse skips the unmount itself.)
        if !state.withLock({ $0.detached }) || connectionGone() { fuse_session_unmount(session) }
        watch?.close()
        core.notifications.sync {}
        core.gate.takeUnretainedValue().close()
        fuse_session_destroy(session)
        // Files still open when the session ended: the kernel will not release their handles.
        for fh in core.gate.takeUnretainedValue().takeBackAll() { Request.releaseHandle(fh) }
        close(wakeFD)
    }

    /// The kernel has ended the connection (the mount is gone and nothing holds it).
    private func connectionGone() -> Bool {
        var fd = pollfd(fd: fuse_session_fd(session), events: 0, revents: 0)
        return Glibc.poll(&fd, 1, 0) == 1 && fd.revents & Int16(POLLERR) != 0
    }

    // MARK: Kernel cache invalidation (from any thread; sent from a notification queue)

    /// Forgets the kernel's cached `name` in `parent` (a node created, removed or renamed
    /// without a request from the kernel).
    public func invalidateEntry(parent: Inode, name: String) {
        let core = self.core
        core.notifications.async {
            core.gate.takeUnretainedValue().ifOpen {
                guard let session = core.session else { return }
                _ = name.withCString { fuse_lowlevel_notify_inval_entry(session, fuse_ino_t(parent), $0, strlen($0)) }
            }
        }
    }

    /// Forgets the kernel's cached attributes (and, with `dataToo`, data) of `inode`.
    public func invalidateInode(_ inode: Inode, dataToo: Bool = false) {
        let core = self.core
        core.notifications.async {
            core.gate.takeUnretainedValue().ifOpen {
                guard let session = core.session else { return }
                _ = fuse_lowlevel_notify_inval_inode(session, fuse_ino_t(inode), dataToo ? 0 : -1, 0)
            }
        }
    }
}
