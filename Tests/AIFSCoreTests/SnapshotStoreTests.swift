@testable import AIFSCore
import Foundation
import FuseKit
import GRDB
import Testing

/// Snapshots in the store, without a mount: taking, sharing, restoring, retention.
@Suite("snapshots in the store")
struct SnapshotStoreTests {
    typealias TempStore = StoreTests.TempStore

    /// A fresh store in a temp directory, loaded (empty); close it, then clean the directory up.
    static func openStore() throws -> (SQLiteStore, TempStore) {
        let temp = TempStore()
        let store = try temp.open()
        _ = try store.load()
        return (store, temp)
    }

    func take(_ store: SQLiteStore, _ name: String, _ trigger: SnapshotTrigger = .manual, keep: Int = 24,
              only: SocketID? = nil) async -> Result<SnapshotInfo, SnapshotFailure> {
        let ticket = SnapshotTicket(name: name, trigger: trigger, created: WallClock.now(), team: TeamSettings(), keepAutomatic: keep,
                                    onlySocket: only)
        await withCheckedContinuation { continuation in store.record([.snapshotTaken(ticket)]) { _ in continuation.resume() } }
        return ticket.result ?? .failure(SnapshotFailure(.EIO, "no result"))
    }

    func restore(_ store: SQLiteStore, _ name: String, _ scope: RestoreTicket.Scope) async -> Result<RestoreTicket.Outcome, SnapshotFailure> {
        let ticket = RestoreTicket(snapshot: name, scope: scope)
        await withCheckedContinuation { continuation in store.record([.snapshotRestored(ticket)]) { _ in continuation.resume() } }
        return ticket.result ?? .failure(SnapshotFailure(.EIO, "no result"))
    }

    func file(_ store: SQLiteStore, _ state: Int64, _ file: SnapshotFile) async -> String {
        await withCheckedContinuation { continuation in
            store.readSnapshotFile(state: state, file) { result in
                continuation.resume(returning: (try? result.get()).map { String(decoding: $0, as: UTF8.self) } ?? "<failed>")
            }
        }
    }

    /// `count` sockets with `messages` exchanges each, recorded as events (fast, no providers).
    func populate(_ store: SQLiteStore, sockets count: Int, messages: Int, from first: SocketID = 1) async {
        var events: [StoreEvent] = []
        for id in first..<(first + SocketID(count)) {
            let record = SocketRecord(id: id, name: "s\(id)", model: "echo", life: .active, headers: false, settings: [:],
                                      prompt: Array("You are s\(id).".utf8), created: 1, lastActivity: 1, uid: 0, gid: 0,
                                      mode: 0o755, messages: messages, tokensIn: 0, tokensOut: 0, nextMessageID: UInt64(messages + 1))
            events.append(.socketCreated(record))
            for n in 0..<messages {
                let text = Array("message \(n) to s\(id): the quick brown fox jumps over the lazy dog".utf8)
                events.append(.transcriptAppended(id, Array("[team-chat-to-s\(id)] id=\(n)\n".utf8) + text + [0x0A]))
                events.append(.transcriptAppended(id, Array("[team-chat-from-s\(id)] id=\(n)\n".utf8) + text + [0x0A]))
                events.append(.contextAppended(id, [Turn(role: .user, content: text), Turn(role: .assistant, content: text)]))
            }
        }
        await withCheckedContinuation { continuation in store.record(events) { _ in continuation.resume() } }
    }

    @Test("a snapshot lists every socket with the sizes of its files; the files read back; names are unique")
    func takeAndRead() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        await populate(store, sockets: 2, messages: 3)
        let info = try await take(store, "first").get()
        #expect(info.sockets.map(\.name) == ["s1", "s2"])
        let transcript = await file(store, info.sockets[0].state, .transcript)
        #expect(transcript.utf8.count == info.sockets[0].transcriptSize && transcript.hasPrefix("[team-chat-to-s1] id=0\n"))
        #expect(await file(store, info.sockets[0].state, .prompt) == "You are s1.")
        let ctl = await file(store, info.sockets[1].state, .ctl)
        #expect(ctl.hasPrefix("name: s2\nmodel: echo\nstate: active\n") && ctl.utf8.count == info.sockets[1].ctlSize)
        if case .failure(let failure) = await take(store, "first") { #expect(failure.errno == .EEXIST) } else { Issue.record("duplicate name taken") }
        #expect(try store.snapshotCatalog().map(\.name) == ["first"])
    }

    @Test("24 snapshots of an idle store cost little more than one; a busy socket adds only its new transcript")
    func sharing() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        await populate(store, sockets: 100, messages: 100)
        _ = try await take(store, "one").get()
        let one = try #require(store.snapshotStorageBytes())
        for n in 2...24 { _ = try await take(store, "idle-\(n)").get() }
        let idle = try #require(store.snapshotStorageBytes())
        #expect(idle == one, "nothing changed, nothing new stored: \(one) vs \(idle)")
        // One socket gets a new exchange before each of 5 more snapshots: its record and context
        // are stored again (one state), its transcript only as the new segment.
        var previous = idle
        func segmentBytes() async throws -> Int {
            try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(bytes)), 0) FROM snapshot_segment")! }
        }
        for n in 1...5 {
            let entry = Array("[team-chat-to-s7] id=x\(n)\nnew words \(n)\n".utf8)
            let segmentsBefore = try await segmentBytes()
            await withCheckedContinuation { continuation in store.record([.transcriptAppended(7, entry)]) { _ in continuation.resume() } }
            _ = try await take(store, "busy-\(n)").get()
            let now = try #require(store.snapshotStorageBytes())
            #expect(try await segmentBytes() - segmentsBefore == entry.count, "only the appended entry is new transcript storage")
            #expect(now - previous < one / 100, "grew by \(now - previous) bytes, less than one socket's share of the first snapshot")
            previous = now
        }
        let transcript = await file(store, try store.snapshotCatalog().last!.sockets[6].state, .transcript)
        #expect(transcript.hasSuffix("[team-chat-to-s7] id=x5\nnew words 5\n") && transcript.contains("id=x1\nnew words 1\n"))
        print("snapshot storage, 100 sockets x 100 exchanges: 1 snapshot \(one) bytes; 24 idle \(idle) bytes; +5 with one busy socket \(previous) bytes")
    }

    @Test("the figure for the closing note: 24 snapshots of 1,000 sockets x 100 messages (set AIFS_SNAPSHOT_FIGURES=1)",
          .enabled(if: ProcessInfo.processInfo.environment["AIFS_SNAPSHOT_FIGURES"] == "1"))
    func figures() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        for batch in 0..<10 { await populate(store, sockets: 100, messages: 100, from: SocketID(batch * 100 + 1)) }
        let live = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT sum(length(bytes)) FROM transcript")! }
        _ = try await take(store, "one").get()
        let one = try #require(store.snapshotStorageBytes())
        for n in 2...24 { _ = try await take(store, "s\(n)").get() }
        let all = try #require(store.snapshotStorageBytes())
        print("1,000 sockets x 100 messages: live transcripts \(live) bytes; 1 snapshot \(one) bytes; 24 snapshots \(all) bytes")
    }

    @Test("restore of everything: sockets made since go, deleted ones come back with context and transcript; one socket in place")
    func restoreAll() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        await populate(store, sockets: 2, messages: 2)
        _ = try await take(store, "before").get()
        // Since: s1 removed, s3 made, s2 gets a new turn and a new name.
        let s3 = SocketRecord(id: 3, name: "s3", model: "echo", life: .active, headers: false, settings: [:], prompt: [], created: 2,
                              lastActivity: 2, uid: 0, gid: 0, mode: 0o755, messages: 0, tokensIn: 0, tokensOut: 0, nextMessageID: 1)
        await withCheckedContinuation { continuation in
            store.record([.socketRemoved(1), .socketCreated(s3), .contextAppended(2, [Turn(role: .user, content: Array("later".utf8))]),
                          .transcriptAppended(2, Array("[later]\n".utf8))]) { _ in continuation.resume() }
        }
        let outcome = try await restore(store, "before", .all).get()
        #expect(Set(outcome.restored) == [1, 2] && outcome.removed == [3])
        let sockets = try store.loadSockets([1, 2, 3])
        #expect(sockets.map(\.record.name) == ["s1", "s2"])
        #expect(sockets[0].context.count == 4 && sockets[1].context.count == 4, "the later turn is gone")
        let revived = String(decoding: sockets[0].transcript, as: UTF8.self)
        #expect(revived.hasPrefix("[team-chat-to-s1] id=0\n") && revived.contains("\n[restore] "))
        #expect(revived.hasSuffix(" snapshot=before\nrestored from snapshot before (taken \(WallClock.iso8601(try store.snapshotCatalog()[0].created)))\n"))
        let kept = String(decoding: sockets[1].transcript, as: UTF8.self)
        #expect(kept.contains("[later]\n") && kept.contains("[restore] "), "a live transcript is kept and gets a [restore] entry")
        // One socket in place, from the snapshot's socket of the same name.
        if case .failure(let failure) = await restore(store, "before", .socket(2, name: "nope")) {
            #expect(failure.errno == .ENOENT && failure.reason == "snapshot 'before' has no socket 'nope'")
        } else { Issue.record("restored a socket the snapshot does not have") }
        if case .failure(let failure) = await restore(store, "missing", .all) { #expect(failure.errno == .ENOENT) } else { Issue.record("restored a missing snapshot") }
    }

    @Test("a snapshot of one socket stores that socket alone: a busy neighbour adds nothing, an unchanged socket nothing new; restoring it brings back that socket alone")
    func oneSocket() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        await populate(store, sockets: 3, messages: 50)
        func record(_ events: [StoreEvent]) async {
            await withCheckedContinuation { continuation in store.record(events) { _ in continuation.resume() } }
        }
        func counts() async throws -> (states: Int, bytes: Int) {
            let states = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM socket_state")! }
            return (states, try #require(store.snapshotStorageBytes()))
        }
        let first = try await take(store, "before-rmdir-1", .beforeRmdir, only: 3).get()
        #expect(first.onlySocket == 3 && first.sockets.map(\.name) == ["s3"])
        let afterFirst = try await counts()
        #expect(afterFirst.states == 1, "one state: the socket it holds")
        // s1 gets busy; s3 stays as it was: the next snapshots of s3 store nothing new.
        for n in 1...5 {
            await record([.contextAppended(1, [Turn(role: .user, content: Array("busy \(n)".utf8))]),
                          .transcriptAppended(1, Array("[busy \(n)]\n".utf8))])
            let info = try await take(store, "before-reset-\(n)", .beforeReset, only: 3).get()
            #expect(info.sockets.map(\.state) == first.sockets.map(\.state), "the unchanged socket's state is shared")
        }
        let afterMore = try await counts()
        #expect(afterMore.states == 1 && afterMore.bytes == afterFirst.bytes, "\(afterFirst) then \(afterMore)")
        // The catalog keeps the scope across a reopen (it is read from the table).
        #expect(try store.snapshotCatalog().first { $0.name == "before-rmdir-1" }?.onlySocket == 3)
        #expect(try store.snapshotCatalog().first { $0.name == "before-reset-1" }?.sockets.count == 1)

        // s3 removed, s4 made, s1 changed: restoring the one-socket snapshot brings back s3 only.
        let s4 = SocketRecord(id: 4, name: "s4", model: "echo", life: .active, headers: false, settings: [:], prompt: [], created: 2,
                              lastActivity: 2, uid: 0, gid: 0, mode: 0o755, messages: 0, tokensIn: 0, tokensOut: 0, nextMessageID: 1)
        await record([.socketRemoved(3), .socketCreated(s4)])
        let outcome = try await restore(store, "before-rmdir-1", .all).get()
        #expect(outcome.restored == [3] && outcome.removed.isEmpty && outcome.team == nil)
        let sockets = try store.loadSockets([1, 2, 3, 4])
        #expect(sockets.map(\.record.name) == ["s1", "s2", "s3", "s4"], "nothing else was removed")
        #expect(sockets[0].context.count == 105, "s1 keeps the turns it got since")
        #expect(sockets[2].context.count == 100 && String(decoding: sockets[2].record.prompt, as: UTF8.self) == "You are s3.")

        // Another socket took the name since: the restore refuses, and says what to do.
        await record([.socketRemoved(3)])
        var renamed = s4
        renamed.name = "s3"
        await record([.socketSaved(renamed)])
        if case .failure(let failure) = await restore(store, "before-rmdir-1", .all) {
            #expect(failure.errno == .EEXIST && failure.reason == "another socket is called 's3' now: rename or remove it, then restore")
        } else { Issue.record("restored over another socket of the same name") }
        #expect(try store.loadSockets([3, 4]).map(\.record.name) == ["s3"], "and changed nothing")
    }

    @Test("snapshots of one socket are kept apart: however many rmdirs, the newest automatic snapshots of everything stay")
    func retentionApart() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        await populate(store, sockets: 2, messages: 1)
        for n in 1...2 { _ = try await take(store, "auto-\(n)", .auto, keep: 3).get() }
        for n in 1...5 { _ = try await take(store, "before-rmdir-\(n)", .beforeRmdir, keep: 3, only: 1).get() }
        #expect(try store.snapshotCatalog().map(\.name) == ["auto-1", "auto-2", "before-rmdir-3", "before-rmdir-4", "before-rmdir-5"])
        for n in 3...4 { _ = try await take(store, "auto-\(n)", .auto, keep: 3).get() }
        #expect(try store.snapshotCatalog().map(\.name) == ["auto-2", "before-rmdir-3", "before-rmdir-4", "before-rmdir-5", "auto-3", "auto-4"])
    }

    @Test("the cluster codec carries a snapshot of everything (kind 12, as before) and of one socket (kind 14)")
    func clusterCodec() throws {
        for socket in [nil, SocketID(7)] as [SocketID?] {
            let entry = LoggedChange(origin: "host-a", time: 5, token: 3, sequence: 9,
                                     change: .snapshot(name: "before-rmdir-x", trigger: .beforeRmdir, socket: socket))
            let bytes = LoggedChangeCodec.encode(entry)
            guard case .snapshot(let name, let trigger, let decoded) = try LoggedChangeCodec.decode(bytes).change else {
                Issue.record("not a snapshot"); continue
            }
            #expect(name == "before-rmdir-x" && trigger == .beforeRmdir && decoded == socket)
            #expect(throws: (any Error).self) { try LoggedChangeCodec.decode(Array(bytes.dropLast())) }
        }
    }

    @Test("automatic snapshots beyond keep are deleted; manual ones never; deleting collects unused storage")
    func retention() async throws {
        let (store, temp) = try Self.openStore()
        defer { store.close(); temp.cleanUp() }
        await populate(store, sockets: 3, messages: 2)
        _ = try await take(store, "mine").get()
        for n in 1...6 {
            await withCheckedContinuation { continuation in
                store.record([.transcriptAppended(1, Array("[tick \(n)]\n".utf8))]) { _ in continuation.resume() }
            }
            _ = try await take(store, "auto-\(n)", .auto, keep: 3).get()
        }
        #expect(try store.snapshotCatalog().map(\.name) == ["mine", "auto-4", "auto-5", "auto-6"])
        let before = try #require(store.snapshotStorageBytes())
        for name in ["auto-4", "auto-5", "auto-6"] {
            await withCheckedContinuation { continuation in store.record([.snapshotDeleted(name)]) { _ in continuation.resume() } }
        }
        let after = try #require(store.snapshotStorageBytes())
        #expect(after < before)
        let states = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM socket_state")! }
        #expect(states == 3, "only the states of 'mine' are left")
    }

    @Test("the snapshot codec round-trips a socket's state and refuses truncated data")
    func codec() throws {
        var snapshot = SocketSnapshot(record: SocketRecord(
            id: 9, name: "x", model: "echo/slow", life: .inactive, headers: true, settings: [.temperature: "0.5", .capabilities: "sql"],
            prompt: Array("p".utf8), created: 1.5, lastActivity: 2.5, uid: 1, gid: 2, mode: 0o700, messages: 3, tokensIn: 4,
            tokensOut: 5, nextMessageID: 6, wire: "y"))
        snapshot.context = [Turn(role: .user, content: [0xFF, 0x00]), Turn(role: .assistant, content: [])]
        snapshot.queue = [InputMessage(id: 4, content: Array("q".utf8), headers: MessageHeaders(priorityHigh: true), uid: 1, time: 3,
                                       route: .team(TeamTicket(round: 77, synthesis: true, team: nil)))]
        snapshot.interrupted = 4
        snapshot.output = RestoredStream(bytes: Array("out".utf8), failureMarks: [1, 3])
        snapshot.errors = RestoredStream(bytes: Array("err\n".utf8))
        snapshot.history = [HistoryEntry(exchange: 1, role: .user, start: 10, length: 2), HistoryEntry(exchange: 0, role: .user, start: 40, length: 0),
                            HistoryEntry(exchange: 1, role: .assistant, start: 60, length: 9)]
        let data = SnapshotCodec.encode(snapshot)
        let back = try SnapshotCodec.decode(data)
        #expect(back.record == snapshot.record && back.context == snapshot.context && back.interrupted == 4)
        #expect(back.history == snapshot.history)
        // A state of format 1 (before the history was kept) still reads, with no history.
        let formatOne = [UInt8(1)] + data.dropFirst().dropLast(4 + 3 * 25)
        let old = try SnapshotCodec.decode(Array(formatOne))
        #expect(old.record == snapshot.record && old.context == snapshot.context && old.history.isEmpty && old.errors == snapshot.errors)
        #expect(back.output == snapshot.output && back.errors == snapshot.errors)
        #expect(back.queue.first?.route.storedForm == "team:77:synthesis" && back.queue.first?.headers.priorityHigh == true)
        #expect(throws: StoreError.self) { try SnapshotCodec.decode(Array(data.dropLast(3))) }
    }

    /// Found by FuzzTests: a count or a failure mark past `Int.max` (one flipped bit in a stored
    /// state) trapped in `Int(UInt64)` and took the daemon down; it is corrupt data, so it throws.
    @Test("the snapshot codec throws, never traps, on a count or failure mark past Int.max")
    func codecOutOfRange() throws {
        let marker = 0x0102_0304_0506_0708
        for field in ["messages", "tokens-in", "tokens-out", "output mark", "errors mark"] {
            var snapshot = SocketSnapshot(record: SocketRecord(
                id: 1, name: "x", model: "echo", life: .active, headers: false, settings: [:], prompt: [], created: 0,
                lastActivity: 0, uid: 0, gid: 0, mode: 0o700, messages: field == "messages" ? marker : 0,
                tokensIn: field == "tokens-in" ? marker : 0, tokensOut: field == "tokens-out" ? marker : 0, nextMessageID: 1))
            snapshot.output = RestoredStream(bytes: [], failureMarks: field == "output mark" ? [marker] : [])
            snapshot.errors = RestoredStream(bytes: [], failureMarks: field == "errors mark" ? [marker] : [])
            var data = SnapshotCodec.encode(snapshot)
            #expect(try SnapshotCodec.decode(data).record.nextMessageID == 1)
            let bytes = withUnsafeBytes(of: UInt64(marker).littleEndian, Array.init)
            let at = try #require((0...(data.count - 8)).first { Array(data[$0..<($0 + 8)]) == bytes })
            data[at + 7] |= 0x80
            #expect(throws: StoreError.self, "\(field) ≥ 2^63") { try SnapshotCodec.decode(data) }
        }
    }

    @Test("snapshot names: 1-64 bytes of [A-Za-z0-9._-], not starting with '.'")
    func names() {
        for good in ["a", "before-rmdir-20261125T120209.099Z", String(repeating: "x", count: 64)] { #expect(SnapshotName.problem(with: good) == nil) }
        for bad in ["", ".", "..", ".x", "a/b", String(repeating: "x", count: 65), "a b", "é"] { #expect(SnapshotName.problem(with: bad) != nil, "\(bad)") }
    }
}
