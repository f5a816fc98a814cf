@testable import AIFSCore
import Foundation
import FuseKit
import GRDB
import Testing

/// The writer's retries after a failed write: the back-off, and the bound on kept groups.
@Suite("store: retries after a failed write")
struct WriteRetryTests {
    @Test("the back-off waits 50 ms, then twice as long after each failure up to 5 s, and starts over after a success")
    func backoff() {
        var backoff = Backoff()
        let start = Date(timeIntervalSince1970: 1_000)
        #expect(backoff.isDue(start))
        var waits: [Double] = []
        for _ in 0..<10 {
            backoff.failed(start)
            waits.append((backoff.remaining(start) * 1000).rounded() / 1000)
            #expect(!backoff.isDue(start))
        }
        #expect(waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5])
        #expect(backoff.isDue(start.addingTimeInterval(5)))
        backoff.succeeded()
        #expect(backoff.isDue(start))
        backoff.failed(start)
        #expect(abs(backoff.remaining(start) - 0.05) < 1e-6)
    }

    @Test("kept groups are bounded by bytes too: a few big replies push out the oldest")
    func keptBytesBounded() {
        var kept = KeptGroups()
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        let group = EventQueue.Group(events: [.transcriptAppended(1, big), .contextAppended(1, [Turn(role: .assistant, content: big)])],
                                     done: nil)
        #expect(kept.keep(Array(repeating: group, count: 10), byteLimit: (8 << 20) + 1024) == 6, "2 MiB each: 4 fit")
        #expect(kept.count == 4 && kept.bytes <= (8 << 20) + 1024)
    }

    @Test("a full database: who waits gets ENOSPC, what nobody waits for is kept (store-backlog says so) and written once there is room")
    func fullDatabase() async throws {
        let temp = StoreTests.TempStore()
        defer { temp.cleanUp() }
        let store = try temp.open()
        defer { store.close() }
        _ = try store.load()
        func record(_ events: [StoreEvent]) async -> Errno? {
            await withCheckedContinuation { continuation in store.record(events) { continuation.resume(returning: $0) } }
        }
        func memories() async throws -> Int {
            try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memories WHERE socket = 'kept'")! }
        }
        func setPageLimit(_ extra: Int?) async throws {
            try await store.pool.writeWithoutTransaction { db in
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count")!
                try db.execute(sql: "PRAGMA max_page_count = \(extra.map { pages + $0 } ?? 1 << 30)")
            }
        }
        #expect(await record([.memory(MemoryEntry(time: 1, socket: "warm", kind: .event, content: "warm"))]) == nil)
        try await setPageLimit(0)
        let big = String(repeating: "kept words ", count: 20_000)
        store.record([.memory(MemoryEntry(time: 2, socket: "kept", kind: .event, content: big))])
        #expect(await record([.memory(MemoryEntry(time: 3, socket: "waited", kind: .event, content: big))]) == .ENOSPC)
        #expect(store.statistics.backlog == 1, "the group nobody waits for is kept: \(store.statistics)")
        #expect(try await memories() == 0)
        try await setPageLimit(nil)
        // As a search does: the tables written now (not only the journal), so they can be read.
        let after = await withCheckedContinuation { continuation in
            store.record([.memory(MemoryEntry(time: 4, socket: "after", kind: .event, content: "room again"))], indexingMemories: true) {
                continuation.resume(returning: $0)
            }
        }
        #expect(after == nil)
        #expect(try await memories() == 1, "written in front of the next batch")
        #expect(store.statistics.backlog == 0)
    }

    @Test("kept groups are bounded: past the limit the oldest go, and the count says how many")
    func keptGroupsBounded() {
        var kept = KeptGroups()
        func group(_ n: Int) -> EventQueue.Group {
            EventQueue.Group(events: [.memory(MemoryEntry(time: Double(n), socket: "s", kind: .event, content: "\(n)"))], done: nil)
        }
        #expect(kept.keep((0..<(KeptGroups.limit - 1)).map(group)) == 0)
        #expect(kept.keep((0..<3).map { group(KeptGroups.limit - 1 + $0) }) == 2)
        #expect(kept.count == KeptGroups.limit)
        let all = kept.takeAll()
        if case .memory(let first) = all.first?.events.first { #expect(first.content == "2", "the two oldest were dropped") }
        else { Issue.record("not a memory") }
        #expect(kept.isEmpty)
    }
}
