@testable import AIFSCore
import Foundation
import FuseKit
import Testing

/// Compaction, `uncompact`, `context` and `fork NAME TURN`, in process, against a provider that
/// records the exact turns it is sent.
@Suite("long conversations: compaction and forks")
struct CompactionTests {
    typealias T = ContextTests

    static func texts(_ request: ProviderRequest?) -> [String] {
        (request?.turns ?? []).map { String(decoding: $0.content, as: UTF8.self) }
    }

    static func transcript(_ s: Socket) -> String { String(decoding: s.readTranscript(offset: 0, size: 1 << 20), as: UTF8.self) }
    static func errors(_ s: Socket) -> String { String(decoding: s.readErrors(max: 1 << 20), as: UTF8.self) }

    @Test("compact: the summary replaces the oldest turns, the last compact_keep stay; uncompact brings every turn back")
    func compactAndUncompact() async throws {
        let provider = ScriptedProvider()
        let s = try T().socket(provider)
        try s.setPrompt(Array("be terse".utf8))
        for n in 1...6 { try await T().ask(s, "q\(n)") }
        try s.apply([.compact])
        try await SocketTestSupport.idle(s)
        // The compaction request: the socket's prompt, the 8 oldest turns, the instruction last.
        let compaction = try #require(provider.requests.last)
        #expect(compaction.systemPrompt == Array("be terse".utf8))
        #expect(Self.texts(compaction) == ["q1", "reply 1", "q2", "reply 2", "q3", "reply 3", "q4", "reply 4",
                                           String(decoding: Socket.instruction, as: UTF8.self)])
        try await T().ask(s, "q7")
        // Its reply ("reply 7") is the summary, a user turn the first kept question joins.
        #expect(Self.texts(provider.requests.last) == ["[summary of 8 earlier turns]\nreply 7\n\nq5", "reply 5", "q6", "reply 6", "q7"])
        #expect(provider.requests.last?.turns.map(\.role) == [.user, .assistant, .user, .assistant, .user])
        let transcript = Self.transcript(s)
        for n in 1...6 { #expect(transcript.contains("\nq\(n)\n") && transcript.contains("\nreply \(n)\n"), "turn \(n) is in the transcript") }
        #expect(transcript.contains("[compacted 8 turns] ") && transcript.contains(" #1 id=1\nreply 1\n") && transcript.contains(" #6 id=6\n"))
        #expect(Self.errors(s).contains(" context compact: 8 turns replaced by a summary of 7 bytes"))
        let context = String(decoding: s.contextText(), as: UTF8.self)
        #expect(context.hasPrefix("[system]\nbe terse\n[user]\n[summary of 8 earlier turns]\nreply 7\n\nq5\n[assistant]\nreply 5\n"), "\(context)")
        try s.apply([.uncompact])
        try await T().ask(s, "q8")
        // Every original turn; q7 was answered by "reply 8" (the compaction was request 7).
        let expected = (1...6).flatMap { ["q\($0)", "reply \($0)"] } + ["q7", "reply 8", "q8"]
        #expect(Self.texts(provider.requests.last) == expected)
        #expect(Self.errors(s).contains(" context uncompact: context rebuilt from the transcript: 14 turns (7 exchanges)"))
    }

    @Test("compact with nothing before the kept turns says so and changes nothing; a failed compaction keeps the context")
    func nothingToCompact() async throws {
        let provider = ScriptedProvider()
        let s = try T().socket(provider)
        try await T().ask(s, "q1")
        try s.apply([.compact])
        try await SocketTestSupport.idle(s)
        #expect(provider.requests.count == 1)
        #expect(Self.errors(s).contains(" context compact: nothing to compact (2 turns in the context, the last 4 are kept"))
        for n in 2...3 { try await T().ask(s, "q\(n)") }
        provider.setFailing(true)
        try s.apply([.compact])
        try await SocketTestSupport.idle(s)
        provider.setFailing(false)
        #expect(Self.errors(s).contains(" context compact: failed: HTTP 500: upstream broke; the context is unchanged"))
        try await T().ask(s, "q4")
        #expect(Self.texts(provider.requests.last) == ["q1", "reply 1", "q2", "reply 2", "q3", "reply 3", "q4"])
    }

    @Test("auto-compact 80 compacts before the message that brings the context to 80 % of context-tokens, and error says so")
    func autoCompact() async throws {
        let provider = ScriptedProvider()
        let s = try T().socket(provider)
        try s.apply([.set(.contextTokens, "100"), .set(.autoCompact, "80")])
        let question = { (n: Int) in String(repeating: "\(n)", count: 40) }  // 10 tokens; each reply 2
        for n in 1...6 { try await T().ask(s, question(n)) }  // 72 tokens, then 82 with the 7th message
        #expect(provider.requests.count == 6, "no compaction below 80 %: 60 + 10 tokens")
        try await T().ask(s, question(7))
        #expect(provider.requests.count == 8, "a compaction, then the message")
        #expect(Self.texts(provider.requests[6]).last == String(decoding: Socket.instruction, as: UTF8.self))
        #expect(Self.texts(provider.requests[7]) == ["[summary of 8 earlier turns]\nreply 7\n\n" + question(5), "reply 5",
                                                     question(6), "reply 6", question(7)])
        #expect(Self.errors(s).contains(" context auto-compact: the context reached 80% of context-tokens 100 "
                                        + "(about 82 tokens with the system prompt and the next message); 8 turns replaced by a summary"))
        #expect(!Self.errors(s).contains("dropped the"), "nothing was dropped")
    }

    @Test("auto-compact leaves the context alone when what it would replace is under half of it (compacting would not make room)")
    func autoCompactOnlyWhenItHelps() async throws {
        let provider = ScriptedProvider()
        let s = try T().socket(provider)
        try s.apply([.set(.contextTokens, "100"), .set(.autoCompact, "50")])
        for text in ["x", String(repeating: "b", count: 100), String(repeating: "c", count: 100), "d"] { try await T().ask(s, text) }
        // Before "d": 3 + 27 + 27 + 1 = 58 tokens, past 50; but the oldest exchange holds 3 of 57.
        #expect(provider.requests.count == 4 && !Self.errors(s).contains("auto-compact"), "\(Self.errors(s))")
    }

    @Test("a context whose turns the stored history does not hold gets its history again from the context, written into the transcript")
    func rebase() async throws {
        let provider = ScriptedProvider()
        let catalog = T.catalog(provider)
        var saved = SocketSnapshot(record: SocketRecord(
            id: 3, name: "old", model: "scripted", life: .active, headers: false, settings: [:], prompt: [], created: 1, lastActivity: 1,
            uid: 0, gid: 0, mode: 0o755, messages: 2, tokensIn: 0, tokensOut: 0, nextMessageID: 3))
        saved.context = [Turn(role: .user, content: Array("q1".utf8)), Turn(role: .assistant, content: Array("r1".utf8)),
                         Turn(role: .user, content: Array("q2".utf8)), Turn(role: .assistant, content: Array("r2".utf8))]
        saved.transcript = Array("[team-chat-to-old] T uid=0 id=1\nq1\n".utf8)  // a store from before the history was kept
        let s = Socket(restoring: saved, environment: SocketEnvironment(store: InMemoryStore(), catalog: catalog))
        #expect(s.exchangeCount == 2)
        #expect(Self.transcript(s).contains("[history] ") && Self.transcript(s).contains("\n[team-chat-from-old] [history] #2\nr2\n"))
        #expect(Self.errors(s).contains(" context the history starts again from the context as it stands (4 turns): the stored history"))
        try s.apply([.uncompact])
        #expect(String(decoding: s.contextText(), as: UTF8.self) == "[user]\nq1\n[assistant]\nr1\n[user]\nq2\n[assistant]\nr2\n")
        #expect(s.contextSize == s.contextText().count)
        // A history that holds the context is kept as it is.
        var whole = saved
        whole.history = [HistoryEntry(exchange: 1, role: .user, start: 32, length: 2)]
        whole.context = [Turn(role: .user, content: Array("q1".utf8))]
        let kept = Socket(restoring: whole, environment: SocketEnvironment(store: InMemoryStore(), catalog: catalog))
        #expect(!Self.transcript(kept).contains("[history]") && kept.exchangeCount == 1)
        // Turns that are all in the transcript are found again there: nothing written, nothing said.
        var older = saved
        older.transcript = Array(("[team-chat-to-old] T uid=0 id=1\nq1\n[team-chat-from-old] T id=1\nr1\n"
                                  + "[team-chat-to-old] T uid=0 id=2\nq2\n[team-chat-from-old] T id=2\nr2\n").utf8)
        let found = Socket(restoring: older, environment: SocketEnvironment(store: InMemoryStore(), catalog: catalog))
        #expect(Self.transcript(found) == String(decoding: older.transcript, as: UTF8.self) && found.exchangeCount == 2 && Self.errors(found).isEmpty)
        try found.apply([.uncompact])
        #expect(String(decoding: found.contextText(), as: UTF8.self) == "[user]\nq1\n[assistant]\nr1\n[user]\nq2\n[assistant]\nr2\n")
        // Entries the store wrote in another order (the reply r1 kept back by a full disk, written
        // after the next question) are found too: each place holds its turn's bytes.
        older.transcript = Array(("[team-chat-to-old] T uid=0 id=1\nq1\n[team-chat-to-old] T uid=0 id=2\nq2\n"
                                  + "[team-chat-from-old] T id=1\nr1\n[team-chat-from-old] T id=2\nr2\n").utf8)
        let reordered = Socket(restoring: older, environment: SocketEnvironment(store: InMemoryStore(), catalog: catalog))
        #expect(!Self.transcript(reordered).contains("[history]") && reordered.exchangeCount == 2)
        try reordered.apply([.uncompact])
        #expect(String(decoding: reordered.contextText(), as: UTF8.self) == "[user]\nq1\n[assistant]\nr1\n[user]\nq2\n[assistant]\nr2\n")
        // A body with its own newline (no newline added after it) is a body too.
        whole.transcript = Array("[team-chat-to-old] T uid=0 id=1\nq1\n[team-chat-from-old] T #1 id=1\nr1\n".utf8)
        whole.history = [HistoryEntry(exchange: 1, role: .user, start: 32, length: 3), HistoryEntry(exchange: 1, role: .assistant, start: 66, length: 3)]
        whole.context = [Turn(role: .user, content: Array("q1\n".utf8)), Turn(role: .assistant, content: Array("r1\n".utf8))]
        let newlines = Socket(restoring: whole, environment: SocketEnvironment(store: InMemoryStore(), catalog: catalog))
        #expect(!Self.transcript(newlines).contains("[history]") && newlines.exchangeCount == 1)
    }

    @Test("fork b 3 of a socket with 6 exchanges: b has exactly turns 1–3, a is unchanged; TURN past the last is refused")
    func forkAtTurn() async throws {
        let provider = ScriptedProvider()
        let registry = T.registry(provider)
        let a = try registry.create(name: FileName("a"), uid: 0, gid: 0, mode: 0o755)
        for n in 1...6 { try await T().ask(a, "q\(n)") }
        let b = try registry.fork(a, to: "b", turn: 3, uid: 0, gid: 0)
        #expect(b.controlText().contains("\nforked-from: a #3\n"))
        try await T().ask(b, "b4")
        #expect(Self.texts(provider.requests.last) == ["q1", "reply 1", "q2", "reply 2", "q3", "reply 3", "b4"])
        try await T().ask(a, "q7")
        #expect(Self.texts(provider.requests.last).count == 13, "a keeps its 6 exchanges")
        // b numbers on from 3, and its own history forks again.
        #expect(Self.transcript(b).contains(" #4 id=1\nreply 7\n"), "\(Self.transcript(b))")
        let c = try registry.fork(b, to: "c", turn: 4, uid: 0, gid: 0)
        try await T().ask(c, "c5")
        #expect(Self.texts(provider.requests.last) == ["q1", "reply 1", "q2", "reply 2", "q3", "reply 3", "b4", "reply 7", "c5"])
        #expect(try ControlCommand.parse("fork b #3") == .fork("b", turn: 3))
        #expect(throws: ControlError.self) { try ControlCommand.parse("fork b three") }
        #expect(throws: ControlError.self) { try ControlCommand.parse("set forked-from x") }
    }

    @Test("the history survives a restart of the durable store; a compacted context comes back compacted, uncompact whole")
    func durable() async throws {
        let temp = StoreTests.TempStore()
        defer { temp.cleanUp() }
        let provider = ScriptedProvider()
        let catalog = T.catalog(provider)
        do {
            let store = try temp.open()
            _ = try store.load()
            let registry = T.registry(provider, store: store)
            let s = try registry.create(name: FileName("d"), uid: 0, gid: 0, mode: 0o755)
            for n in 1...4 { try await T().ask(s, "q\(n)") }
            try s.apply([.compact])
            try await SocketTestSupport.idle(s)
            store.close()
        }
        let store = try temp.open()
        defer { store.close() }
        let contents = try store.load()
        let saved = try #require(contents.sockets.first)
        #expect(saved.history.count == 8 && saved.history.last?.exchange == 4)
        #expect(saved.context.map { String(decoding: $0.content, as: UTF8.self) }
                == ["[summary of 4 earlier turns]\nreply 5", "q3", "reply 3", "q4", "reply 4"])
        let s = Socket(restoring: saved, environment: SocketEnvironment(store: store, catalog: catalog))
        try s.apply([.uncompact])
        #expect(String(decoding: s.contextText(), as: UTF8.self)
                == "[user]\nq1\n[assistant]\nreply 1\n[user]\nq2\n[assistant]\nreply 2\n[user]\nq3\n[assistant]\nreply 3\n[user]\nq4\n[assistant]\nreply 4\n")
    }

    @Test("a message queued before a restart is found in the transcript again when it is answered")
    func locate() {
        let transcript = Array("[team-chat-to-a] T uid=0 id=12\nhello\n[team-chat-from-a] T #1 id=12\nhello\n[team-chat-to-a] T uid=0 id=1 round=3\nhi\n".utf8)
        #expect(History.locate(content: Array("hi".utf8), messageID: 1, in: transcript).map { String(decoding: transcript[$0], as: UTF8.self) } == "hi")
        let found = History.locate(content: Array("hello".utf8), messageID: 12, in: transcript)
        #expect(found.map { String(decoding: transcript[$0], as: UTF8.self) } == "hello")
        #expect(History.locate(content: Array("hello".utf8), messageID: 2, in: transcript) == nil)
    }
}
