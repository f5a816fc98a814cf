import Foundation

/// Tells the writer, with one non-blocking `read(2)`, whether the store's files may have been
/// deleted or replaced since the last complete check (``StoreFiles/check()``, four `stat`s of
/// four paths, was 19 % of the writer's time on a durable round trip).
///
/// An inotify watch on the store's directory reports every name created, deleted or moved in
/// or out of it, and the directory itself deleted or moved; the kernel queues the event before
/// the `unlink` or `rename` returns, so a batch written after a deletion always sees it. What
/// the watch cannot see — a parent directory renamed, a mount over the directory — is still
/// found by the complete check, which runs at least every ``longest`` seconds. Without inotify
/// (`inotify_init1` failed: the per-user limit of instances), every call says "check".
///
/// Writer thread only.
final class StoreDirectoryWatch {
    /// At most this long between two complete checks, events or not.
    static let longest = 0.25
    private let directory: String
    private var fd: Int32
    /// The watch on the directory (-1 when none: the directory went, or inotify is missing).
    private var watch: Int32 = -1
    /// When the last complete check found every file in place (nil: it did not, or none yet).
    private var cleanAt: Double?

    init(directory: String) {
        self.directory = directory
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        arm()
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    private func arm() {
        guard fd >= 0, watch < 0 else { return }
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
        watch = inotify_add_watch(fd, directory, mask)
    }

    /// True when nothing can have changed since the last clean check: no event is queued, the
    /// watch is in place, and that check is recent. Reads (and forgets) queued events.
    func isQuiet(now: Double = DaemonCounters.monotonicSeconds()) -> Bool {
        guard fd >= 0 else { return false }
        var quiet = watch >= 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            quiet = false
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let (mask, length) = buffer.withUnsafeBytes { raw -> (UInt32, UInt32) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.mask, event.len)
                }
                // The directory itself is gone or moved: watch the path again (once it exists).
                if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 { dropWatch() }
                offset += MemoryLayout<inotify_event>.size + Int(length)
            }
        }
        if !quiet { cleanAt = nil }
        arm()
        guard quiet, let cleanAt else { return false }
        return now - cleanAt < Self.longest
    }

    /// The complete check that followed ``isQuiet()`` found every file in place.
    func checkedClean(now: Double = DaemonCounters.monotonicSeconds()) {
        cleanAt = now
    }

    private func dropWatch() {
        if watch >= 0 { inotify_rm_watch(fd, watch) }
        watch = -1
    }
}
