@testable import AIFSCore
import Foundation
import GRDB
import Testing

/// The journal: its byte format, and what applying it in bulk writes (and does not write).
@Suite("store journal")
struct JournalTests {
    /// A small seeded generator, so that a failure can be replayed.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state ^ (state >> 29)
        }
    }

    static func bytes(_ g: inout Seeded) -> [UInt8] {
        (0..<Int.random(in: 0...40, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    static func text(_ g: inout Seeded) -> String {
        let pieces = ["", "a", "é", "日本", "\0", "\"", "\n", "🙂", "x y"]
        return (0..<Int.random(in: 0...5, using: &g)).map { _ in pieces.randomElement(using: &g)! }.joined()
    }

    static func op(_ g: inout Seeded) -> JournalOp {
        let socket = UInt64.random(in: 0...UInt64.max, using: &g), id = UInt64.random(in: 0...UInt64.max, using: &g)
        let kind: StreamKind = Bool.random(using: &g) ? .output : .error
        switch Int.random(in: 0..<16, using: &g) {
        case 0:
            return .queued(socket: socket, id: id, content: bytes(&g), priorityHigh: Bool.random(using: &g), recipients: text(&g),
                           uid: UInt32.random(in: 0...UInt32.max, using: &g), time: Double.random(in: -1e9...1e12, using: &g),
                           route: text(&g))
        case 1: return .started(socket: socket, id: id)
        case 2: return .ended(socket: socket, id: id)
        case 3: return .transcript(socket: socket, time: Double.random(in: 0...2e9, using: &g), bytes: bytes(&g))
        case 4: return .context(socket: socket, role: text(&g), content: bytes(&g))
        case 5:
            return .chunk(socket: socket, kind: kind, start: Int.random(in: 0...Int.max, using: &g), bytes: bytes(&g),
                          failureAfter: Bool.random(using: &g))
        case 6:
            return .cursor(socket: socket, kind: kind, cursor: StreamCursor(position: Int.random(in: 0...Int.max, using: &g),
                                                                             pastMark: Bool.random(using: &g)))
        case 7:
            return .memory(time: Double.random(in: 0...2e9, using: &g), socket: text(&g), kind: text(&g), content: text(&g),
                           metadata: text(&g))
        case 8:
            return .saved(StoredSocket(id: socket, name: text(&g), model: text(&g), life: text(&g), headers: Bool.random(using: &g),
                                       settings: text(&g), prompt: bytes(&g), created: 1.5, lastActivity: -0.0,
                                       uid: UInt32.max, gid: 0, mode: 0o700, messages: Int.max, tokensIn: 0, tokensOut: 7,
                                       nextMessageID: id, wire: text(&g)))
        case 9: return .trimmed(socket: socket, count: Int.random(in: 0...Int.max, using: &g))
        case 10: return .contextCleared(socket: socket)
        case 11:
            return .history(socket: socket, exchange: Int.random(in: 0...Int.max, using: &g), role: text(&g),
                            start: Int.random(in: 0...Int.max, using: &g), length: Int.random(in: 0...Int.max, using: &g))
        case 12: return .historyCleared(socket: socket)
        case 13:
            return .undo(socket: socket, call: text(&g), path: text(&g), previous: Bool.random(using: &g) ? bytes(&g) : nil)
        case 14: return .undoDeleted(socket: socket, call: text(&g))
        default: return .queueCleared(socket: socket)
        }
    }

    @Test("every op comes back from its bytes as it was; 2,000 random batches")
    func codecRoundTrip() throws {
        var g = Seeded(state: 42)
        for _ in 0..<2_000 {
            let ops = (0..<Int.random(in: 0...12, using: &g)).map { _ in Self.op(&g) }
            #expect(try JournalCodec.decode(JournalCodec.encode(ops)) == ops)
        }
    }

    @Test("truncated or unknown bytes are refused with where, never misread")
    func corruptBytesAreRefused() throws {
        var g = Seeded(state: 7)
        let ops = (0..<20).map { _ in Self.op(&g) }
        let bytes = JournalCodec.encode(ops)
        for cut in stride(from: 1, to: bytes.count, by: max(1, bytes.count / 300)) {
            let prefix = Array(bytes.prefix(cut))
            do {
                let decoded = try JournalCodec.decode(prefix)
                #expect(decoded == Array(ops.prefix(decoded.count)), "a prefix decodes only whole ops")
            } catch {
                #expect(error.description.contains("truncated") || error.description.contains("unknown"), "\(error)")
            }
        }
        #expect(throws: JournalCodec.Corrupt.self) { try JournalCodec.decode([200]) }
    }

    @Test("applied in bulk: a message queued and answered, and a chunk read, never reach their tables; a socket's transcript is one row")
    func bulkApplicationElides() async throws {
        let temp = StoreTests.TempStore()
        defer { temp.cleanUp() }
        let store = try SQLiteStore(options: StoreOptions(path: temp.path, journalDelay: 3600))
        defer { store.close() }
        _ = try store.load()
        let record = SocketRecord(id: 5, name: "s", model: "echo", life: .active, headers: false, settings: [:], prompt: [],
                                  created: 1, lastActivity: 1, uid: 0, gid: 0, mode: 0o700, messages: 0, tokensIn: 0, tokensOut: 0,
                                  nextMessageID: 1)
        func commit(_ events: [StoreEvent]) async {
            await withCheckedContinuation { continuation in store.record(events) { _ in continuation.resume() } }
        }
        await commit([.socketCreated(record)])
        for n in 1...10 {
            let message = InputMessage(id: UInt64(n), content: Array("m\(n)\n".utf8), headers: MessageHeaders(), uid: 0, time: 2)
            await commit([.messageQueued(5, message), .transcriptAppended(5, Array("in \(n)\n".utf8))])
            await commit([.requestStarted(5, messageID: UInt64(n)),
                          .streamAppended(5, .output, start: (n - 1) * 4, bytes: Array("r\(n)\n".utf8).prefix(4).map { $0 },
                                          failureAfter: false),
                          .transcriptAppended(5, Array("out \(n)\n".utf8)), .requestEnded(5, messageID: UInt64(n))])
            await commit([.streamRead(5, .output, StreamCursor(position: n * 4, pastMark: false))])
        }
        let before = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM journal") }
        #expect(before == 30, "each commit one row, none applied yet (journal_delay 1 h)")
        // A search applies the journal first (and indexes).
        await withCheckedContinuation { continuation in store.record([], indexingMemories: true) { _ in continuation.resume() } }
        let counts = try await store.pool.read { db in
            try ["journal", "message", "stream_chunk", "transcript"].map { try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0)")! }
        }
        #expect(counts == [0, 0, 0, 1], "journal, message, stream_chunk, transcript rows: \(counts)")
        let transcript = try await store.pool.read { db in try Data.fetchOne(db, sql: "SELECT bytes FROM transcript")! }
        #expect(String(decoding: transcript, as: UTF8.self) == (1...10).map { "in \($0)\nout \($0)\n" }.joined())
        let cursor = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT position FROM stream_cursor WHERE socket = 5") }
        #expect(cursor == 40)
    }
}
