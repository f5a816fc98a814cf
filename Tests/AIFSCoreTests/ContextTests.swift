@testable import AIFSCore
import FuseKit
import Synchronization
import Testing

/// A provider that records what it is asked and answers "reply N", or fails when told to.
final class ScriptedProvider: Provider, @unchecked Sendable {
    private let lock = Mutex<(requests: [ProviderRequest], failing: Bool)>(([], false))
    var requests: [ProviderRequest] { lock.withLock { $0.requests } }
    func setFailing(_ failing: Bool) { lock.withLock { $0.failing = failing } }

    func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
        let (count, failing) = lock.withLock { state -> (Int, Bool) in
            state.requests.append(request)
            return (state.requests.count, state.failing)
        }
        if failing { throw ProviderError("HTTP 500: upstream broke") }
        sink.text(Array("reply \(count)".utf8))
    }
}

@Suite("conversation context")
struct ContextTests {
    /// A catalog whose one model, `scripted`, is `provider`.
    static func catalog(_ provider: ScriptedProvider) -> ModelCatalog {
        ModelCatalog(modelIDs: ["scripted"], defaultModel: "scripted", providers: ["scripted": provider])
    }

    /// A registry on `store` (by default one in memory) answering with `provider`.
    static func registry(_ provider: ScriptedProvider, store: any SocketStore = InMemoryStore(), limits: Limits = Limits()) -> SocketRegistry {
        SocketRegistry(environment: SocketEnvironment(store: store, catalog: catalog(provider), limits: limits))
    }

    func socket(_ provider: ScriptedProvider, limits: Limits = Limits()) throws -> Socket {
        let registry = Self.registry(provider, limits: limits)
        return try registry.create(name: FileName("c"), uid: 0, gid: 0, mode: 0o755)
    }

    func ask(_ socket: Socket, _ text: String) async throws {
        #expect(await SocketTestSupport.submit(socket, text) == nil)
        try await SocketTestSupport.idle(socket)
    }

    @Test("a 3-turn conversation sends every earlier turn and the system prompt; reset starts afresh")
    func turns() async throws {
        let provider = ScriptedProvider()
        let s = try socket(provider)
        try s.setPrompt(Array("be terse".utf8))
        for text in ["one", "two", "three"] { try await ask(s, text) }
        let third = try #require(provider.requests.last)
        #expect(third.turns.map { String(decoding: $0.content, as: UTF8.self) } == ["one", "reply 1", "two", "reply 2", "three"])
        #expect(third.turns.map(\.role) == [.user, .assistant, .user, .assistant, .user])
        #expect(third.systemPrompt == Array("be terse".utf8))
        try s.apply([.reset])
        try await ask(s, "four")
        #expect(provider.requests.last?.turns.map { String(decoding: $0.content, as: UTF8.self) } == ["four"])
    }

    @Test("fork copies model, settings, prompt and context; the copy's next request carries the turns; names are checked")
    func fork() async throws {
        let provider = ScriptedProvider()
        let registry = Self.registry(provider)
        let a = try registry.create(name: FileName("a"), uid: 0, gid: 0, mode: 0o750)
        try a.apply([.set(.temperature, "0.3"), .headers(true)])
        try a.setPrompt(Array("sys".utf8))
        try await ask(a, "one")
        let b = try registry.fork(a, to: "b", uid: 5, gid: 6)
        #expect(b.info.settings[.temperature] == "0.3" && b.info.headers && b.prompt == Array("sys".utf8))
        #expect(b.info.uid == 5 && b.info.mode == 0o750)
        try await ask(b, "two")
        #expect(provider.requests.last?.turns.map { String(decoding: $0.content, as: UTF8.self) } == ["one", "reply 1", "two"])
        #expect(String(decoding: b.readTranscript(offset: 0, size: 4096), as: UTF8.self).contains("forked from a at #1: 1 exchange, 2 turns of context"))
        #expect(throws: SocketError.self) { try registry.fork(a, to: "b", uid: 0, gid: 0) }
        #expect(throws: ControlError.self) { try ControlCommand.parse("fork bad/name") }
        #expect(try ControlCommand.parse("fork c") == .fork("c", turn: nil))
    }

    @Test("context-tokens drops the oldest turns, keeps the prompt and the new message, and says so in error")
    func trimming() async throws {
        let provider = ScriptedProvider()
        let s = try socket(provider)
        try s.apply([.set(.contextTokens, "12")])
        for text in ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"] { try await ask(s, text) }  // 4 tokens each
        let last = try #require(provider.requests.last)
        #expect(last.turns.map { String(decoding: $0.content, as: UTF8.self) } == ["bbbbbbbbbbbbbbbb", "reply 2", "cccccccccccccccc"])
        let errors = String(decoding: s.readErrors(max: 4096), as: UTF8.self)
        #expect(errors.contains(" context dropped the 2 oldest turns to fit context-tokens 12"))
        // `context` shows what is left after the trim (SPEC: "after trimming or compaction").
        #expect(String(decoding: s.contextText(), as: UTF8.self)
                == "[user]\nbbbbbbbbbbbbbbbb\n[assistant]\nreply 2\n[user]\ncccccccccccccccc\n[assistant]\nreply 3\n")
    }

    @Test("after 5 failed requests in a row a socket becomes unresponsive and refuses input; a success resets the count")
    func unresponsive() async throws {
        let provider = ScriptedProvider()
        let s = try socket(provider)
        provider.setFailing(true)
        for n in 1...4 { try await ask(s, "try \(n)") }
        provider.setFailing(false)
        try await ask(s, "works")
        provider.setFailing(true)
        for n in 1...4 { try await ask(s, "again \(n)") }
        #expect(s.info.state == .active, "4 failures after a success are not enough")
        try await ask(s, "fifth")
        #expect(s.info.state == .unresponsive)
        #expect(await SocketTestSupport.submit(s, "refused") == .EHOSTDOWN)
        let errors = String(decoding: s.readErrors(max: 1 << 16), as: UTF8.self)
        #expect(errors.contains(" request message 10 failed: HTTP 500: upstream broke\n"))
        #expect(errors.contains(" state active -> unresponsive after 5 failed requests in a row"))
    }

    @Test("without its own context-tokens a socket is trimmed to [sockets] context_tokens, said once in error")
    func defaultLimit() async throws {
        let provider = ScriptedProvider()
        var limits = Limits()
        limits.contextTokens = 12
        let s = try socket(provider, limits: limits)
        for text in ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc", "dddddddddddddddd"] { try await ask(s, text) }
        let last = try #require(provider.requests.last)
        #expect(last.turns.map { String(decoding: $0.content, as: UTF8.self) } == ["cccccccccccccccc", "reply 3", "dddddddddddddddd"])
        let errors = String(decoding: s.readErrors(max: 4096), as: UTF8.self)
        #expect(errors.contains(" context dropped the 2 oldest turns to fit context-tokens 12 (the default"))
        #expect(errors.components(separatedBy: " context dropped").count == 2, "said once, not at every trim")
    }

    @Test("[sockets] context_tokens 0 keeps every turn")
    func noDefaultLimit() async throws {
        let provider = ScriptedProvider()
        var limits = Limits()
        limits.contextTokens = 0
        let s = try socket(provider, limits: limits)
        for n in 1...5 { try await ask(s, String(repeating: "x", count: 64) + "\(n)") }
        #expect(provider.requests.last?.history.count == 8)
    }

    @Test("the conversation merges consecutive turns as they come, keeps its token total, drops whole exchanges")
    func conversation() {
        func turn(_ role: Turn.Role, _ text: String) -> Turn { Turn(role: role, content: Array(text.utf8)) }
        var c = Conversation()
        c.append(turn(.user, "note"))           // a discussion note
        c.append(turn(.user, "q1"))
        c.append(turn(.assistant, "r1"))
        c.append(turn(.user, "q2"))
        c.append(turn(.assistant, "r2"))
        #expect(c.count == 4 && c.rows == 5)
        #expect(c.turns.first?.content == Array("note\n\nq1".utf8))
        #expect(c.tokens == 5, "one token per stored turn of up to 4 bytes")
        #expect(c.dropOldest() == 3, "the merged question stands for two stored turns, with its reply")
        #expect(c.count == 2 && c.rows == 2 && c.tokens == 2)
        c.append(turn(.user, "late note"))
        let (history, message) = c.request(for: Array("q3".utf8))
        #expect(history.map(\.role) == [.user, .assistant], "the trailing note joins the new message")
        #expect(message == Array("late note\n\nq3".utf8))
        for n in 0..<1_000 {
            c.append(turn(.user, "q\(n)"))
            c.append(turn(.assistant, "r\(n)"))
            _ = c.dropOldest()
        }
        #expect(c.count == 2 && c.turns.last?.content == Array("r999".utf8), "drops keep the newest turns in order")
    }
}
