@testable import AIFSCore
import FuseKit
import Synchronization
import Testing

/// The socket state machine without a mount: messages in, replies into context and transcript.
@Suite("socket core")
struct SocketTests {
    func makeRegistry(limits: Limits = Limits(), echo: EchoProvider = EchoProvider(slowChunkDelay: .milliseconds(20))) -> SocketRegistry {
        SocketRegistry(environment: SocketEnvironment(store: InMemoryStore(), catalog: .builtIn(echo: echo), limits: limits))
    }

    func submit(_ socket: Socket, _ text: String) async -> Errno? {
        await SocketTestSupport.submit(socket, text, uid: 0)
    }

    func idle(_ socket: Socket) async throws {
        try await SocketTestSupport.idle(socket)
    }

    func transcript(_ socket: Socket) -> String {
        String(decoding: socket.readTranscript(offset: 0, size: 1 << 20), as: UTF8.self)
    }

    @Test("a message is answered; the exchange lands in context, counters and transcript")
    func answer() async throws {
        let socket = try makeRegistry().create(name: FileName("apollo"), uid: 0, gid: 0, mode: 0o755)
        #expect(await submit(socket, "hello there\n") == nil)
        try await idle(socket)
        let info = socket.info
        #expect(info.messages == 1 && info.unreadBytes == "hello there\n".utf8.count)
        #expect(info.tokensIn == 2 && info.tokensOut == 2)
        let text = transcript(socket)
        #expect(text.contains("[team-chat-to-apollo] "))
        #expect(text.contains("[team-chat-from-apollo] "))
        #expect(text.hasSuffix("\nhello there\n"))
    }

    @Test("priority-high jumps the queue but not the request in flight")
    func priority() async throws {
        let socket = try makeRegistry().create(name: FileName("p"), model: "echo/slow", uid: 0, gid: 0, mode: 0o755)
        _ = await submit(socket, "first one two\n")
        _ = await submit(socket, "second\n")
        _ = await submit(socket, "[priority-high] urgent\n")
        try await idle(socket)
        let text = transcript(socket)
        let order = ["from-p] ", "\nfirst one two\n", "\nurgent\n", "\nsecond\n"].map { text.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil })
        let replies = text.components(separatedBy: "[team-chat-from-p]").dropFirst().map { $0.split(separator: "\n")[1] }
        #expect(replies == ["first one two", "urgent", "second"])
    }

    @Test("a reply over [limits] reply_bytes is cut there, the request ends answered, error and transcript say so")
    func replyCut() async throws {
        var limits = Limits()
        limits.maxReplyBytes = 10
        let socket = try makeRegistry(limits: limits).create(name: FileName("r"), uid: 0, gid: 0, mode: 0o755)
        #expect(await submit(socket, "0123456789abcdefghijklmnopqrstuvwxyz\n") == nil)
        try await idle(socket)
        let out = socket.state.withLock { $0.output.read(max: 1000) }
        #expect(out == .bytes(Array("0123456789\n".utf8)))
        #expect(String(decoding: socket.readErrors(max: 4096), as: UTF8.self).contains("request message 1: reply cut at 10 bytes ([limits] reply_bytes)"))
        #expect(transcript(socket).contains("[team-chat-from-r] ") && transcript(socket).contains(" id=1 [cut]\n0123456789\n"))
        #expect(await submit(socket, "short\n") == nil)
        try await idle(socket)
        #expect(socket.state.withLock { $0.output.read(max: 1000) } == .bytes(Array("short\n".utf8)), "the next message is answered")
    }

    @Test("a full queue refuses with EAGAIN and says so in error")
    func queueFull() async throws {
        var limits = Limits()
        limits.maxQueue = 2
        let socket = try makeRegistry(limits: limits).create(name: FileName("q"), model: "echo/slow", uid: 0, gid: 0, mode: 0o755)
        #expect(await submit(socket, "a b c d e\n") == nil)
        #expect(await submit(socket, "b\n") == nil)
        #expect(await submit(socket, "c\n") == .EAGAIN)
        #expect(String(decoding: socket.readErrors(max: 4096), as: UTF8.self).contains("input queue full"))
        socket.close()
    }

    @Test("an unresponsive socket refuses input with EHOSTDOWN")
    func unresponsive() async throws {
        let socket = try makeRegistry().create(name: FileName("u"), uid: 0, gid: 0, mode: 0o755)
        try socket.apply([.state(.unresponsive)])
        #expect(throws: SocketError.self) { try socket.checkAcceptsInput() }
        #expect(await submit(socket, "x\n") == .EHOSTDOWN)
        try socket.apply([.state(.active)])
        #expect(await submit(socket, "x\n") == nil)
    }

    @Test("model must be in the catalog; a refused batch changes nothing")
    func modelValidation() throws {
        let socket = try makeRegistry().create(name: FileName("m"), uid: 0, gid: 0, mode: 0o755)
        #expect(throws: SocketError.self) { try socket.apply([.headers(true), .model("nope/x")]) }
        #expect(socket.info.headers == false && socket.info.model == "echo")
        try socket.apply([.model("echo/slow"), .set(.temperature, "0.5")])
        #expect(socket.info.model == "echo/slow" && socket.info.settings[.temperature] == "0.5")
    }

    @Test("reset clears queue, output and context; the transcript keeps the history")
    func reset() async throws {
        let socket = try makeRegistry().create(name: FileName("r"), uid: 0, gid: 0, mode: 0o755)
        _ = await submit(socket, "one\n")
        try await idle(socket)
        try socket.apply([.reset])
        let info = socket.info
        #expect(info.unreadBytes == 0 && info.queued == 0)
        #expect(transcript(socket).contains("[reset] "))
        #expect(transcript(socket).contains("\none\n"))
    }

    @Test("a timeout fails the request, reports it and the queue goes on")
    func timeout() async throws {
        // A model that never answers: the timeout is the only way this request can end, so a
        // slow machine cannot let the reply win the race (echo/slow once raced it).
        let socket = try TeamTestProvider().registry().create(name: FileName("t"), model: "t/hang", uid: 0, gid: 0, mode: 0o755)
        try socket.apply([.set(.timeout, "0.1")])
        _ = await submit(socket, "a b c d\n")
        try await idle(socket)
        try socket.apply([.model("echo")])
        _ = await submit(socket, "fine\n")
        try await idle(socket)
        let errors = String(decoding: socket.readErrors(max: 4096), as: UTF8.self)
        #expect(errors.contains("request message 1 failed: timed out"))
        #expect(transcript(socket).contains("[error] "))
        #expect(transcript(socket).hasSuffix("\nfine\n"))
    }

    @Test("registry: EEXIST, EINVAL, ENOSPC, rename keeps the socket")
    func registry() throws {
        var limits = Limits()
        limits.maxSockets = 2
        let registry = makeRegistry(limits: limits)
        let a = try registry.create(name: FileName("a"), uid: 0, gid: 0, mode: 0o755)
        #expect(throws: SocketError.self) { try registry.create(name: FileName("a"), uid: 0, gid: 0, mode: 0o755) }
        #expect(throws: SocketError.self) { try registry.create(name: FileName("bad name"), uid: 0, gid: 0, mode: 0o755) }
        _ = try registry.create(name: FileName("b"), uid: 0, gid: 0, mode: 0o755)
        do {
            _ = try registry.create(name: FileName("c"), uid: 0, gid: 0, mode: 0o755)
            Issue.record("limit not enforced")
        } catch {
            #expect(error.errno == .ENOSPC)
        }
        try registry.rename(from: "a", to: FileName("z"))
        #expect(registry.socket(named: "z") === a && registry.socket(named: "a") == nil && a.name == "z")
        #expect(throws: SocketError.self) { try registry.rename(from: "z", to: FileName("b")) }
        try registry.remove(name: "z")
        #expect(registry.socket(id: a.id) == nil)
    }
}

@Suite("echo provider")
struct EchoProviderTests {
    final class Collector: ReplySink, @unchecked Sendable {
        let chunks = Mutex<[[UInt8]]>([])
        func text(_ bytes: [UInt8]) { chunks.withLock { $0.append(bytes) } }
        func reasoning(_ bytes: [UInt8]) {}
        func usage(input: Int, output: Int) {}
        func toolCall(_ call: ToolCallRequest) {}  // echo calls no tools
    }

    @Test("replies byte for byte in small chunks, invalid UTF-8 included")
    func echoes() async throws {
        var message = Array("hello world, this is a longer message\n".utf8)
        message.append(0xFF)
        let sink = Collector()
        try await EchoProvider().respond(to: ProviderRequest(model: "", systemPrompt: [], turns: [Turn(role: .user, content: message)], settings: [:]), into: sink)
        let chunks = sink.chunks.withLock { $0 }
        #expect(chunks.count > 1 && chunks.allSatisfy { $0.count <= EchoProvider.chunkSize })
        #expect(Array(chunks.joined()) == message)
    }

    @Test("slow streams word by word")
    func slowChunks() {
        #expect(EchoProvider.chunks(of: Array("a bb ccc".utf8), slow: true).map { String(decoding: $0, as: UTF8.self) } == ["a ", "bb ", "ccc"])
    }
}
