@testable import AIFSCore
import Foundation
import FuseKit
import Testing

/// The store's files deleted or replaced while it is open (the mounted version is in
/// `FaultTests`): nothing acknowledged may be lost, and nothing may be acknowledged that the
/// next mount would not see.
@Suite("durable store: files deleted or replaced under it")
struct StoreFaultTests {
    let store = StoreTests()

    @Test("deleted files (database, log, shared memory, lock, the directory itself) are written again; nothing is lost")
    func deletedFilesAreWrittenAgain() async throws {
        let temp = StoreTests.TempStore()
        defer { temp.cleanUp() }
        let directory = (temp.path as NSString).deletingLastPathComponent
        do {
            let (db, sockets) = try temp.openFresh(store)
            let s = try sockets.create(name: FileName("keep"), uid: 0, gid: 0, mode: 0o755)
            #expect(await store.submit(s, "before the deletion\n") == nil)
            try await store.idle(s)
            for suffix in ["", "-wal", "-shm", ".lock"] { unlink(temp.path + suffix) }
            #expect(await store.submit(s, "after the deletion\n") == nil, "acknowledged: so it must survive")
            try await store.idle(s)
            #expect(FileManager.default.fileExists(atPath: temp.path), "written again before the commit")
            // The whole directory, while idle: noticed (the checkpointer looks once a second)
            // without a write; the wait is for that event, its bound only fails the test.
            try FileManager.default.removeItem(atPath: directory)
            try await SocketTestSupport.eventually("the store is written again while idle") { FileManager.default.fileExists(atPath: temp.path) }
            #expect(FileManager.default.fileExists(atPath: temp.path), "written again while idle")
            var st = stat()
            #expect(stat(directory, &st) == 0 && st.st_mode & 0o777 == 0o700)
            #expect(stat(temp.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
            #expect(await store.submit(s, "after the second deletion\n") == nil)
            try await store.idle(s)
            await store.flush(db)
            guard case .success(let hits) = store.search(db, "deletion") else { Issue.record("search failed"); return }
            #expect(hits.count == 6, "memory search runs on the new file: \(hits)")
            db.close()
        }
        let db = try temp.open()
        defer { db.close() }
        let contents = try db.load()
        let snapshot = try #require(contents.sockets.first)
        let transcript = String(decoding: snapshot.transcript, as: UTF8.self)
        for text in ["before the deletion", "after the deletion", "after the second deletion"] {
            #expect(transcript.components(separatedBy: "\n\(text)\n").count - 1 == 2, "message and reply: \(transcript)")
        }
        #expect(snapshot.queue.isEmpty)
    }

    @Test("a database replaced by another file: writes are refused with EIO, a copy is saved, the new file is left alone")
    func replacedFileRefusesWrites() async throws {
        let temp = StoreTests.TempStore()
        defer { temp.cleanUp() }
        let (db, sockets) = try temp.openFresh(store)
        defer { db.close() }
        let s = try sockets.create(name: FileName("mine"), uid: 0, gid: 0, mode: 0o755)
        #expect(await store.submit(s, "acknowledged before\n") == nil)
        try await store.idle(s)
        let other = Array("not this daemon's database".utf8)
        // Replaced in one step, as `mv other.db aifs.db` does (no moment without a file).
        #expect(FileManager.default.createFile(atPath: temp.path + ".other", contents: Data(other)))
        #expect(rename(temp.path + ".other", temp.path) == 0)
        #expect(await store.submit(s, "refused after\n") == .EIO)
        #expect(FileManager.default.contents(atPath: temp.path).map(Array.init) == other, "the new file is untouched")
        let directory = (temp.path as NSString).deletingLastPathComponent
        let saved = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("aifs.db.saved-") }
        try #require(saved.count == 1, "\(saved)")
        let copy = try SQLiteStore(options: StoreOptions(path: directory + "/" + saved[0]))
        defer { copy.close() }
        let transcript = String(decoding: try #require(try copy.load().sockets.first).transcript, as: UTF8.self)
        #expect(transcript.contains("\nacknowledged before\n") && !transcript.contains("refused after"))
    }
}
