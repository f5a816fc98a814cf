import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Notices that the mount was detached from outside while descriptors are still open on it
/// (`fusermount3 -u -z`, `umount -l`).
///
/// After a lazy unmount the kernel keeps the FUSE connection alive until the last descriptor on
/// it closes, and nothing reaches the session: without this, the process would serve the old
/// descriptors indefinitely, holding whatever it holds (a store, a lock), so that mounting again
/// could fail. The kernel reports
/// every change of the mount table as `POLLPRI` on `/proc/self/mountinfo`; the loop polls that
/// descriptor too, and after an event looks whether its mount (by mount id) is still there.
public struct MountWatch {
    /// `/proc/self/mountinfo`, for `POLLPRI`.
    let fd: Int32
    /// The id of our mount (first field of its mountinfo line).
    let mountID: Int

    /// Call right after mounting, with the mountpoint as the mount table spells it (resolved
    /// before mounting: resolving it afterwards would ask our own, not yet served, filesystem).
    /// Nil when there is no mount table to watch.
    init?(resolvedMountpoint: String) {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        // The newest mount at that path is ours (a mount on top of another is listed after it).
        guard let id = MountInfo.entries(fd).last(where: { $0.mountpoint == resolvedMountpoint })?.id else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        self.mountID = id
    }

    /// True while our mount is in the mount table.
    func isMounted() -> Bool {
        MountInfo.entries(fd).contains { $0.id == mountID }
    }

    func close() { Glibc.close(fd) }

    /// The path as the mount table spells it: symbolic links resolved (the path itself as is
    /// when it cannot be resolved).
    static func resolve(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
