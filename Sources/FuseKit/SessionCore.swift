import CFuse3
import Dispatch
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What every C callback reaches through `fuse_req_userdata`: the filesystem, the reply gate,
/// the parked requests and the session pointer (for notifications).
final class SessionCore: @unchecked Sendable {
    let fileSystem: any FileSystem
    /// What the `init` callback asks the kernel for.
    let capabilities: FuseSession.Capabilities
    let gate: Unmanaged<ReplyGate>
    let pending = PendingRegistry()
    /// Set once `fuse_session_new` succeeded.
    var session: OpaquePointer?
    /// Notifications (`inval_entry`, `inval_inode`) go out from this queue, never from the loop
    /// thread: inside a related handler they can deadlock.
    let notifications = DispatchQueue(label: "fusekit.notify")

    init(fileSystem: any FileSystem, capabilities: FuseSession.Capabilities) {
        self.fileSystem = fileSystem
        self.capabilities = capabilities
        // Retained for the life of the process: late replies from other threads check it.
        self.gate = Unmanaged.passRetained(ReplyGate())
    }

    static func from(_ raw: OpaquePointer) -> SessionCore {
        Unmanaged<SessionCore>.fromOpaque(fuse_req_userdata(raw)!).takeUnretainedValue()
    }

    @inline(__always)
    func request(_ raw: OpaquePointer?) -> Request {
        Request(raw: raw!, gate: gate)
    }
}

/// The `fuse_lowlevel_ops` table: each entry copies its arguments and calls the filesystem.
enum Callbacks {
    static func operations() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let userdata, let conn else { return }
            Unmanaged<SessionCore>.fromOpaque(userdata).takeUnretainedValue().capabilities.apply(to: conn)
        }
        ops.lookup = { req, parent, name in
            let core = SessionCore.from(req!)
            core.fileSystem.lookup(core.request(req), parent: parent, name: FileName(cString: name!))
        }
        ops.forget = { req, ino, lookups in
            let core = SessionCore.from(req!)
            core.fileSystem.forget(inode: ino, lookups: lookups)
            core.request(req).replyNone()
        }
        ops.forget_multi = { req, count, forgets in
            let core = SessionCore.from(req!)
            if let forgets {
                for item in UnsafeBufferPointer(start: forgets, count: count) {
                    core.fileSystem.forget(inode: item.ino, lookups: item.nlookup)
                }
            }
            core.request(req).replyNone()
        }
        ops.getattr = { req, ino, _ in
            let core = SessionCore.from(req!)
            core.fileSystem.getattr(core.request(req), inode: ino)
        }
        ops.setattr = { req, ino, attr, toSet, fi in
            let core = SessionCore.from(req!)
            let st = attr!.pointee
            var changes = SetAttributes()
            if toSet & FUSE_SET_ATTR_MODE != 0 { changes.mode = st.st_mode & 0o7777 }
            if toSet & FUSE_SET_ATTR_UID != 0 { changes.uid = st.st_uid }
            if toSet & FUSE_SET_ATTR_GID != 0 { changes.gid = st.st_gid }
            if toSet & FUSE_SET_ATTR_SIZE != 0 { changes.size = UInt64(max(0, st.st_size)) }
            let now = Double(time(nil))
            if toSet & FUSE_SET_ATTR_ATIME_NOW != 0 { changes.accessTime = now }
            else if toSet & FUSE_SET_ATTR_ATIME != 0 { changes.accessTime = Double(st.st_atim.tv_sec) + Double(st.st_atim.tv_nsec) / 1e9 }
            if toSet & FUSE_SET_ATTR_MTIME_NOW != 0 { changes.modificationTime = now }
            else if toSet & FUSE_SET_ATTR_MTIME != 0 { changes.modificationTime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9 }
            core.fileSystem.setattr(core.request(req), inode: ino, changes: changes, handle: Request.handle(cfuse_fi_fh(fi)))
        }
        ops.mkdir = { req, parent, name, mode in
            let core = SessionCore.from(req!)
            core.fileSystem.mkdir(core.request(req), parent: parent, name: FileName(cString: name!), mode: UInt32(mode))
        }
        ops.mknod = { req, _, _, _, _ in SessionCore.from(req!).request(req).reply(error: .EPERM) }
        ops.symlink = { req, _, _, _ in SessionCore.from(req!).request(req).reply(error: .EPERM) }
        ops.link = { req, _, _, _ in SessionCore.from(req!).request(req).reply(error: .EPERM) }
        ops.readlink = { req, _ in SessionCore.from(req!).request(req).reply(error: .EINVAL) }
        ops.unlink = { req, parent, name in
            let core = SessionCore.from(req!)
            core.fileSystem.unlink(core.request(req), parent: parent, name: FileName(cString: name!))
        }
        ops.rmdir = { req, parent, name in
            let core = SessionCore.from(req!)
            core.fileSystem.rmdir(core.request(req), parent: parent, name: FileName(cString: name!))
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            let core = SessionCore.from(req!)
            core.fileSystem.rename(core.request(req), parent: parent, name: FileName(cString: name!),
                                   newParent: newParent, newName: FileName(cString: newName!), flags: UInt32(flags))
        }
        ops.create = { req, parent, name, mode, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.create(core.request(req), parent: parent, name: FileName(cString: name!),
                                   mode: UInt32(mode), info: FileInfo(flags: cfuse_fi_flags(fi)))
        }
        ops.open = { req, ino, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.open(core.request(req), inode: ino, info: FileInfo(flags: cfuse_fi_flags(fi)))
        }
        ops.read = { req, ino, size, offset, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.read(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)),
                                 size: size, offset: Int64(offset), info: FileInfo(flags: cfuse_fi_flags(fi)))
        }
        ops.write = { req, ino, buf, size, offset, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.write(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)),
                                  data: UnsafeRawBufferPointer(start: buf, count: size), offset: Int64(offset),
                                  info: FileInfo(flags: cfuse_fi_flags(fi)))
        }
        ops.fallocate = { req, ino, mode, offset, length, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.fallocate(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)),
                                      mode: mode, offset: Int64(offset), length: Int64(length))
        }
        ops.flush = { req, ino, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.flush(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)))
        }
        ops.release = { req, ino, fi in
            let core = SessionCore.from(req!)
            let fh = cfuse_fi_fh(fi)
            core.fileSystem.release(core.request(req), inode: ino, handle: Request.handle(fh))
            if core.gate.takeUnretainedValue().takeBack(fh) { Request.releaseHandle(fh) }
        }
        ops.fsync = { req, _, _, _ in SessionCore.from(req!).request(req).replyOK() }
        ops.opendir = { req, ino, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.opendir(core.request(req), inode: ino, info: FileInfo(flags: cfuse_fi_flags(fi)))
        }
        ops.readdir = { req, ino, size, offset, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.readdir(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)),
                                    size: size, offset: Int64(offset))
        }
        ops.readdirplus = { req, ino, size, offset, fi in
            let core = SessionCore.from(req!)
            core.fileSystem.readdirplus(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)),
                                        size: size, offset: Int64(offset))
        }
        ops.releasedir = { req, ino, fi in
            let core = SessionCore.from(req!)
            let fh = cfuse_fi_fh(fi)
            core.fileSystem.releasedir(core.request(req), inode: ino, handle: Request.handle(fh))
            if core.gate.takeUnretainedValue().takeBack(fh) { Request.releaseHandle(fh) }
        }
        ops.fsyncdir = { req, _, _, _ in SessionCore.from(req!).request(req).replyOK() }
        ops.statfs = { req, ino in
            let core = SessionCore.from(req!)
            core.fileSystem.statfs(core.request(req), inode: ino)
        }
        ops.setxattr = { req, _, _, _, _, _ in SessionCore.from(req!).request(req).reply(error: .ENOTSUP) }
        // ENOSYS, not ENODATA: the kernel then remembers that this filesystem has no extended
        // attributes and answers every later getxattr itself (EOPNOTSUPP). `ls -l` asks for
        // three of them per entry, so ENODATA cost three requests per entry (30,000 for a
        // directory of 10,000 entries).
        ops.getxattr = { req, _, _, _ in SessionCore.from(req!).request(req).reply(error: .ENOSYS) }
        // An empty list: asked with size 0, its length (0); asked with a buffer, no bytes. (A size
        // reply to a sized request is a protocol error the kernel turns into EIO.)
        ops.listxattr = { req, _, size in
            let request = SessionCore.from(req!).request(req)
            if size == 0 { request.reply(xattrSize: 0) } else { request.reply(bytes: []) }
        }
        ops.removexattr = { req, _, _ in SessionCore.from(req!).request(req).reply(error: .ENODATA) }
        ops.poll = { req, ino, fi, ph in
            let core = SessionCore.from(req!)
            let handle = ph.map { PollHandle(raw: $0, gate: core.gate) }
            core.fileSystem.poll(core.request(req), inode: ino, handle: Request.handle(cfuse_fi_fh(fi)), pollHandle: handle)
        }
        return ops
    }
}

/// FuseKit's logger; its user may replace it (before mounting) to route or label the messages.
public enum FuseLog {
    nonisolated(unsafe) public static var logger = Logger(label: "fusekit")
}
