import FuseKit
import Foundation

/// Reads `/proc/self/mountinfo` and clears mounts: what `mount` needs to detect a live or stale
/// aifs and what `unmount` needs to remove one.
enum MountTable {
    /// The newest mount at `path` (a mount on top of another is listed after it).
    static func mount(at path: String) -> MountInfo.Entry? {
        MountInfo.entries().last { $0.mountpoint == path }
    }

    static func isAIFS(_ path: String) -> Bool {
        mount(at: path)?.fstype == "fuse.aifs"
    }

    /// True if `path` is a FUSE mount whose daemon is gone ("Transport endpoint is not connected").
    static func isStale(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) != 0 && errno == ENOTCONN
    }

    /// Lazily unmounts `path` (root: umount2 MNT_DETACH; otherwise fusermount3 -u -z).
    @discardableResult
    static func detach(_ path: String) -> Bool {
        if getuid() == 0 {
            return umount2(path, Int32(MNT_DETACH)) == 0
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/fusermount3")
        process.arguments = ["-u", "-z", path]
        do {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        } catch {
            return false
        }
    }
}
