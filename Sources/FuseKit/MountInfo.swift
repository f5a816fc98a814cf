import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The mount table, `/proc/self/mountinfo`, read whole and parsed: what a FUSE program needs to
/// find its own mount, a stale one, or another file system at a path.
///
/// Read with a loop of `read(2)` until end of file: the kernel hands out a `seq_file` one page
/// at a time and reports a size of 0, and a reader that trusts the size, or stops after one
/// read, silently misses every mount past the first 4 KiB — which a busy machine reaches with
/// a few dozen mounts.
public enum MountInfo {
    /// One line of the mount table.
    public struct Entry: Equatable, Sendable {
        /// The mount id (first field).
        public var id: Int
        /// The mount point, unescaped.
        public var mountpoint: String
        /// The file system type after the `-` separator, e.g. `fuse.myfs`.
        public var fstype: String

        public init(id: Int, mountpoint: String, fstype: String) {
            self.id = id
            self.mountpoint = mountpoint
            self.fstype = fstype
        }
    }

    /// Every mount of this process's namespace, in the kernel's order (a mount on top of another
    /// comes after it); empty when the table cannot be read.
    public static func entries() -> [Entry] {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        return entries(fd)
    }

    /// Every line of the table behind `fd`, read from its start.
    static func entries(_ fd: Int32) -> [Entry] {
        guard lseek(fd, 0, SEEK_SET) == 0 else { return [] }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        return parse(data)
    }

    /// Parses mountinfo text: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - TYPE …`.
    public static func parse(_ data: [UInt8]) -> [Entry] {
        data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count > 5, let id = Int(String(decoding: fields[0], as: UTF8.self)),
                  let dash = fields[5...].firstIndex(where: { $0.elementsEqual([UInt8(ascii: "-")]) }),
                  dash + 1 < fields.count
            else { return nil }
            return Entry(id: id, mountpoint: unescape(Array(fields[4])),
                         fstype: String(decoding: fields[dash + 1], as: UTF8.self))
        }
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo` (octal).
    public static func unescape(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let code = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(code)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
