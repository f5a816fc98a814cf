@testable import AIFSCore
import Foundation
import GRDB
import Testing

/// Undo records (what a `write` tool call replaced) in the durable store: they come back at the
/// next load, go when undone or with their socket, survive a crash before the journal is
/// applied, and are not part of snapshots.
@Suite("undo records in the store")
struct UndoStoreTests {
    typealias TempStore = StoreTests.TempStore

    static let record = SocketRecord(id: 5, name: "s", model: "echo", life: .active, headers: false, settings: [:], prompt: [],
                                     created: 1, lastActivity: 1, uid: 0, gid: 0, mode: 0o700, messages: 0, tokensIn: 0,
                                     tokensOut: 0, nextMessageID: 1)
    static let binary = UndoRecord(path: "/home/u/bin.dat", previous: (0...255).map { UInt8($0) })

    func commit(_ store: SQLiteStore, _ events: [StoreEvent]) async {
        await withCheckedContinuation { continuation in store.record(events) { _ in continuation.resume() } }
    }

    /// Opens the store at `temp`, records each group of events (one commit each), and closes it.
    func session(_ temp: TempStore, journalDelay: Double = 0.005, _ groups: [[StoreEvent]]) async throws {
        let store = try SQLiteStore(options: StoreOptions(path: temp.path, journalDelay: journalDelay))
        defer { store.close() }
        _ = try store.load()
        for events in groups { await commit(store, events) }
    }

    /// What the next load brings back of socket 5 (nil: no such socket).
    func reloaded(_ temp: TempStore) throws -> SocketSnapshot? {
        let store = try temp.open()
        defer { store.close() }
        return try store.load().sockets.first { $0.record.id == 5 }
    }

    /// Rows of `table` in the closed store's database (read without loading it).
    func rows(_ temp: TempStore, _ table: String) throws -> Int {
        let queue = try DatabaseQueue(path: temp.path)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }

    @Test("records come back after close and reopen, by call id; a second record of a call replaces the first")
    func roundTrip() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        try await session(temp, [
            [.socketCreated(Self.record)],
            [.undoSaved(5, callID: "3.1", record: UndoRecord(path: "/home/u/a.txt", previous: Array("first".utf8)))],
            [.undoSaved(5, callID: "3.2", record: UndoRecord(path: "/home/u/b.txt", previous: nil)),
             .undoSaved(5, callID: "3.1", record: UndoRecord(path: "/home/u/a.txt", previous: Array("old\n".utf8)))],
        ])
        let socket = try #require(try reloaded(temp))
        #expect(socket.undoRecords == ["3.1": UndoRecord(path: "/home/u/a.txt", previous: Array("old\n".utf8)),
                                       "3.2": UndoRecord(path: "/home/u/b.txt", previous: nil)])
        // Loading again (nothing recorded in between) gives the same.
        #expect(try reloaded(temp)?.undoRecords.count == 2)
    }

    @Test("a nil record deletes the call's record: gone after reopen, the others stay")
    func deleted() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        try await session(temp, [
            [.socketCreated(Self.record), .undoSaved(5, callID: "1.1", record: UndoRecord(path: "/a", previous: [1])),
             .undoSaved(5, callID: "1.2", record: UndoRecord(path: "/b", previous: [2]))],
            [.undoSaved(5, callID: "1.1", record: nil), .undoSaved(5, callID: "9.9", record: nil)],
        ])
        #expect(try reloaded(temp)?.undoRecords == ["1.2": UndoRecord(path: "/b", previous: [2])])
        // Saved and undone within one commit: nothing left either.
        try await session(temp, [[.undoSaved(5, callID: "2.1", record: UndoRecord(path: "/c", previous: nil)),
                                  .undoSaved(5, callID: "2.1", record: nil)]])
        #expect(try reloaded(temp)?.undoRecords.keys.sorted() == ["1.2"])
    }

    @Test("binary content round-trips byte for byte; no file (nil) stays distinct from an empty file")
    func contentKinds() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        try await session(temp, [[.socketCreated(Self.record),
                                  .undoSaved(5, callID: "1.1", record: Self.binary),
                                  .undoSaved(5, callID: "1.2", record: UndoRecord(path: "/new", previous: nil)),
                                  .undoSaved(5, callID: "1.3", record: UndoRecord(path: "/empty", previous: []))]])
        let records = try #require(try reloaded(temp)).undoRecords
        #expect(records["1.1"]?.previous == (0...255).map { UInt8($0) })
        #expect(records["1.1"]?.path == Self.binary.path)
        #expect(records["1.2"] == UndoRecord(path: "/new", previous: nil))
        #expect(records["1.3"] == UndoRecord(path: "/empty", previous: []))
        #expect(records["1.2"]?.previous == nil && records["1.3"]?.previous != nil)
    }

    @Test("a crash before the journal is applied loses nothing: the next load replays saves and deletes")
    func journalReplay() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        // journal_delay 1 h: every commit stays a journal row; close does not apply them.
        try await session(temp, journalDelay: 3600, [
            [.socketCreated(Self.record)],
            [.undoSaved(5, callID: "1.1", record: Self.binary)],
            [.undoSaved(5, callID: "1.2", record: UndoRecord(path: "/gone", previous: Array("x".utf8)))],
            [.undoSaved(5, callID: "1.3", record: UndoRecord(path: "/new", previous: nil))],
            [.undoSaved(5, callID: "1.2", record: nil)],
        ])
        #expect(try rows(temp, "journal") == 4, "the undo commits are still journal rows")
        #expect(try rows(temp, "undo") == 0, "and not yet in the table")
        let socket = try #require(try reloaded(temp))
        #expect(socket.undoRecords == ["1.1": Self.binary, "1.3": UndoRecord(path: "/new", previous: nil)])
        #expect(try rows(temp, "journal") == 0 && rows(temp, "undo") == 2)
    }

    @Test("the records go with their socket; reset (context, history, queue cleared) keeps them")
    func socketRemoval() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        var other = Self.record
        other.id = 6
        other.name = "t"
        try await session(temp, [
            [.socketCreated(Self.record), .socketCreated(other),
             .undoSaved(5, callID: "1.1", record: UndoRecord(path: "/a", previous: [0])),
             .undoSaved(6, callID: "1.1", record: UndoRecord(path: "/b", previous: nil))],
            [.queueCleared(5), .contextCleared(5), .historyCleared(5)],
        ])
        #expect(try reloaded(temp)?.undoRecords == ["1.1": UndoRecord(path: "/a", previous: [0])], "reset keeps them")
        try await session(temp, [[.socketRemoved(5)]])
        #expect(try rows(temp, "undo") == 1, "socket 6's record alone is left")
        let store = try temp.open()
        defer { store.close() }
        let sockets = try store.load().sockets
        #expect(sockets.map(\.record.id) == [6] && sockets[0].undoRecords == ["1.1": UndoRecord(path: "/b", previous: nil)])
    }

    @Test("snapshots do not carry them: a removed socket restored has none, one restored in place keeps its live ones")
    func snapshots() async throws {
        let (store, temp) = try SnapshotStoreTests.openStore()
        defer { store.close(); temp.cleanUp() }
        let tests = SnapshotStoreTests()
        await tests.populate(store, sockets: 2, messages: 2)
        await commit(store, [.undoSaved(1, callID: "1.1", record: Self.binary),
                             .undoSaved(2, callID: "1.1", record: UndoRecord(path: "/two", previous: nil))])
        let info = try await tests.take(store, "before").get()
        #expect(info.sockets.count == 2)
        await commit(store, [.socketRemoved(1), .undoSaved(2, callID: "2.1", record: UndoRecord(path: "/later", previous: [7]))])
        _ = try await tests.restore(store, "before", .all).get()
        let sockets = try store.loadSockets([1, 2])
        #expect(sockets.map(\.record.name) == ["s1", "s2"])
        #expect(sockets[0].undoRecords.isEmpty, "the removed socket's records went with it; the snapshot has none")
        #expect(sockets[1].undoRecords.keys.sorted() == ["1.1", "2.1"], "a live socket's records are left as they are")
        _ = try await tests.restore(store, "before", .socket(2, name: "s2")).get()
        #expect(try store.loadSockets([2])[0].undoRecords.count == 2)
    }
}
