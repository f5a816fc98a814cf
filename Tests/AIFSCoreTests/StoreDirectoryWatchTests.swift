@testable import AIFSCore
import Foundation
import Testing

/// When the writer may skip the complete check of the store's files: only after a clean check,
/// with no name created, deleted or moved in the directory since, and not for long.
@Suite("store directory watch")
struct StoreDirectoryWatchTests {
    static func makeDirectory() -> String {
        let dir = NSTemporaryDirectory() + "aifs-watch-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("quiet only after a clean check; a file created, deleted, renamed in or out ends it; so does time")
    func events() throws {
        let dir = Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watch = StoreDirectoryWatch(directory: dir)
        #expect(!watch.isQuiet(now: 10), "no clean check yet")
        watch.checkedClean(now: 10)
        #expect(watch.isQuiet(now: 10.1))
        #expect(!watch.isQuiet(now: 10 + StoreDirectoryWatch.longest), "a complete check at least every \(StoreDirectoryWatch.longest) s")
        let changes: [(String, () throws -> Void)] = [
            ("created", { FileManager.default.createFile(atPath: dir + "/a.db", contents: Data()) }),
            ("renamed", { try FileManager.default.moveItem(atPath: dir + "/a.db", toPath: dir + "/b.db") }),
            ("moved out", { try FileManager.default.moveItem(atPath: dir + "/b.db", toPath: dir + "-b.db") }),
            ("moved in", { try FileManager.default.moveItem(atPath: dir + "-b.db", toPath: dir + "/a.db") }),
            ("deleted", { try FileManager.default.removeItem(atPath: dir + "/a.db") }),
        ]
        for (what, change) in changes {
            watch.checkedClean(now: 20)
            #expect(watch.isQuiet(now: 20))
            try change()
            #expect(!watch.isQuiet(now: 20), "\(what)")
            #expect(!watch.isQuiet(now: 20), "\(what): still not quiet until a complete check was clean")
        }
        // Writing into a file is not a change of names.
        FileManager.default.createFile(atPath: dir + "/c.db", contents: Data())
        #expect(!watch.isQuiet(now: 30))
        watch.checkedClean(now: 30)
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/c.db"))
        handle.write(Data("more".utf8))
        try handle.close()
        #expect(watch.isQuiet(now: 30))
    }

    @Test("the directory deleted and made again: not quiet, then watched anew")
    func directoryReplaced() throws {
        let dir = Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watch = StoreDirectoryWatch(directory: dir)
        watch.checkedClean(now: 1)
        try FileManager.default.removeItem(atPath: dir)
        #expect(!watch.isQuiet(now: 1))
        watch.checkedClean(now: 1)
        #expect(!watch.isQuiet(now: 1), "no directory to watch: always check")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        #expect(!watch.isQuiet(now: 1), "watched again from here; this check is still due")
        watch.checkedClean(now: 1)
        #expect(watch.isQuiet(now: 1))
        FileManager.default.createFile(atPath: dir + "/x", contents: Data())
        #expect(!watch.isQuiet(now: 1), "events of the new directory are seen")
    }
}
