@testable import AIFSCore
import FuseKit
import Testing

/// Pipelines (`wire NAME`) without a mount.
@Suite("wires")
struct WireTests {
    typealias T = TeamTestSupport

    func unread(_ socket: Socket) -> OutputBuffer.ReadResult {
        socket.state.withLock { $0.output.read(max: 1 << 20) }
    }

    func text(_ result: OutputBuffer.ReadResult) -> String {
        if case .bytes(let bytes) = result { return String(decoding: bytes, as: UTF8.self) }
        return "\(result)"
    }

    func pipeline(_ provider: TeamTestProvider, models: [String] = ["t/a", "t/b", "t/c"]) throws -> (SocketRegistry, [Socket]) {
        let registry = provider.registry()
        let sockets = try zip(["a", "b", "c"], models).map { try T.make(registry, $0, model: $1) }
        try registry.wire(sockets[0], to: "b")
        try registry.wire(sockets[1], to: "c")
        return (registry, sockets)
    }

    @Test("a → b → c: a reply travels down the chain as content; only c's output holds it; ctl shows the wire")
    func chain() async throws {
        let (_, s) = try pipeline(TeamTestProvider())
        #expect(await SocketTestSupport.submit(s[0], "q") == nil)
        // Each hand-over is queued after its sender is done: wait for the reply at the end.
        try await SocketTestSupport.eventually("the reply reaches c's output") { s[2].info.unreadBytes > 0 }
        for socket in s { try await SocketTestSupport.idle(socket) }
        #expect(text(unread(s[2])) == "c says: b says: a says: q\n")
        #expect(unread(s[0]) == .nothing && unread(s[1]) == .nothing)
        #expect(s[0].controlText().contains("wire: b\n") && s[2].controlText().contains("wire: -\n"))
        #expect(T.transcript(s[1]).contains("[team-chat-to-b] [team-chat-from-a] "))
    }

    @Test("loops are refused with ELOOP (also to itself); a missing target is ENOENT; nothing changes")
    func loops() throws {
        let (registry, s) = try pipeline(TeamTestProvider())
        func errno(_ body: () throws -> Void) -> Errno? {
            do { try body(); return nil } catch let error as SocketError { return error.errno } catch { return .EIO }
        }
        #expect(errno { try registry.wire(s[2], to: "a") } == .ELOOP)
        #expect(errno { try registry.wire(s[2], to: "c") } == .ELOOP)
        #expect(errno { try registry.wire(s[2], to: "zz") } == .ENOENT)
        #expect(s[2].info.wire == nil)
        registry.unwire(s[1])
        try registry.wire(s[2], to: "a")  // no loop any more: c → a → b
        #expect(s[2].info.wire == "a")
    }

    @Test("the end of the chain waits while anything upstream works, and not after")
    func upstreamPending() async throws {
        let (_, s) = try pipeline(TeamTestProvider(), models: ["echo/slow", "echo", "echo"])
        #expect(!s[2].upstreamFeeding())
        #expect(await SocketTestSupport.submit(s[0], "one two three four") == nil)
        #expect(s[2].upstreamFeeding(), "a is working on a reply that will reach c")
        #expect(s[2].state.withLock { $0.isPending(upstream: true) })
        #expect(!s[0].state.withLock { $0.isPending(upstream: false) }, "a wired socket's own output has nothing pending")
        // Not after: once the reply has travelled down the chain and all are idle.
        try await SocketTestSupport.eventually("the whole reply reaches c's output") { s[2].info.unreadBytes == "one two three four\n".utf8.count }
        for socket in s { try await SocketTestSupport.idle(socket) }
        #expect(!s[2].upstreamFeeding())
        #expect(text(unread(s[2])) == "one two three four\n")
    }

    @Test("a failure upstream reaches the end of the chain as EIO once, with the reason in its error")
    func failureTravels() async throws {
        let (_, s) = try pipeline(TeamTestProvider(), models: ["t/fail", "t/b", "t/c"])
        #expect(await SocketTestSupport.submit(s[0], "q") == nil)
        try await SocketTestSupport.idle(s[0])
        #expect(unread(s[2]) == .failure)
        let errors = String(decoding: s[2].readErrors(max: 4096), as: UTF8.self)
        #expect(errors.contains("wire upstream a: message 1 failed: HTTP 500: broken on purpose"), "\(errors)")
    }

    @Test("removing or renaming the target: a rename keeps the wire, a removal unwires and says so")
    func targetChanges() throws {
        let (registry, s) = try pipeline(TeamTestProvider())
        try registry.rename(from: "b", to: FileName("bee"))
        #expect(s[0].info.wire == "bee")
        try registry.remove(name: "bee")
        #expect(s[0].info.wire == nil)
        #expect(String(decoding: s[0].readErrors(max: 4096), as: UTF8.self).contains("unwired: bee was removed"))
    }

    @Test("a refused hand-over keeps the reply in the sender's output")
    func refusedHandover() async throws {
        let provider = TeamTestProvider()
        let registry = provider.registry()
        let a = try T.make(registry, "a", model: "t/a")
        let b = try T.make(registry, "b", model: "t/b")
        try registry.wire(a, to: "b")
        try b.apply([.state(.unresponsive)])
        #expect(await SocketTestSupport.submit(a, "q") == nil)
        try await SocketTestSupport.idle(a)
        #expect(text(unread(a)) == "a says: q\n")
        #expect(String(decoding: a.readErrors(max: 4096), as: UTF8.self).contains("b refused message 1's reply"))
    }
}
