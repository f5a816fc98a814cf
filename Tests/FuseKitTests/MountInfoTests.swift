import Foundation
import FuseKit
import Testing

/// `MountInfo`: parsing mountinfo lines, and reading the live table whole however long it is.
@Suite("the mount table")
struct MountInfoTests {
    @Test("fields, optional fields before '-', and octal escapes in the mount point")
    func parsing() {
        let text = """
            22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
            59 27 0:54 / /tmp/a\\040b\\011c\\134d rw,nosuid,nodev - fuse.aifs aifs rw,user_id=0
            60 27 0:55 / /tmp/plain rw - tmpfs tmpfs rw
            not a line

            """
        let entries = MountInfo.parse(Array(text.utf8))
        #expect(entries == [
            .init(id: 22, mountpoint: "/proc", fstype: "proc"),
            .init(id: 59, mountpoint: "/tmp/a b\tc\\d", fstype: "fuse.aifs"),
            .init(id: 60, mountpoint: "/tmp/plain", fstype: "tmpfs"),
        ])
    }

    /// The kernel serves mountinfo a page at a time; the last line must be found however long
    /// the table is. The live table is compared with what `FileHandle.readToEnd` reads; a table
    /// of 200 long lines checks the parser past a page (the mounted `StatusTests` makes the live
    /// table that long with tmpfs mounts).
    @Test("the live table is read whole: its last line is found, as `cat` shows it")
    func readsWholeTable() throws {
        // Other tests mount and unmount meanwhile: compare only a parse that the table did not
        // change around (the same text read before and after it).
        func cat() throws -> String {
            try String(decoding: FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/mountinfo")).readToEnd() ?? Data(), as: UTF8.self)
        }
        var live = MountInfo.entries()
        var text = try cat()
        for _ in 0..<100 {
            let before = try cat()
            live = MountInfo.entries()
            text = try cat()
            if before == text { break }
        }
        let lines = text.split(separator: "\n")
        #expect(live.count == lines.count, "\(live.count) parsed of \(lines.count) lines")
        #expect(live.last?.id == lines.last.flatMap { Int($0.split(separator: " ")[0]) })
        // A long table, as parse sees it: 200 lines (about 18 KiB), every one kept.
        let long = (0..<200).map { "\(1000 + $0) 27 0:\($0) / /tmp/aifs-mnt-\($0)-ABCDEF0123456789 rw,nosuid,nodev,relatime - fuse.aifs aifs rw,user_id=0,group_id=0" }
        let parsed = MountInfo.parse(Array(long.joined(separator: "\n").utf8))
        #expect(parsed.count == 200)
        #expect(parsed.last?.mountpoint == "/tmp/aifs-mnt-199-ABCDEF0123456789")
    }
}
