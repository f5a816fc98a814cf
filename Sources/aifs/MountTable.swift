import FuseKit
import Foundation

/// Reads `/proc/self/mountinfo` and clears mounts: what `mount` needs to detect a live or stale
/// aifs and what `unmount` needs to remove one.
enum MountTable {
    struct Mount {
        var mountpoint: String
        var fstype: String
    }

    static func mounts() -> [Mount] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 5, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { return nil }
            return Mount(mountpoint: unescape(String(fields[4])), fstype: String(fields[dash + 1]))
        }
    }

    /// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
    static func unescape(_ field: String) -> String { MountWatch.unescape(Array(field.utf8)) }

    static func mount(at path: String) -> Mount? {
        mounts().last { $0.mountpoint == path }
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
