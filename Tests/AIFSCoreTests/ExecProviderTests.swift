@testable import AIFSCore
import Foundation
import Synchronization
import Testing

/// Collects what a provider streams.
final class RecordingSink: ReplySink, @unchecked Sendable {
    private let lock = NSLock()
    private var _text: [UInt8] = []
    private var _chunks = 0
    private var _reasoning: [UInt8] = []
    private var _diagnostics: [String] = []
    private var _usage = (0, 0)

    private var _arrivals: [ContinuousClock.Instant] = []
    func text(_ bytes: [UInt8]) { lock.withLock { _text += bytes; _chunks += 1; _arrivals.append(.now) } }
    /// When each text chunk reached the sink.
    var arrivals: [ContinuousClock.Instant] { lock.withLock { _arrivals } }
    func reasoning(_ bytes: [UInt8]) { lock.withLock { _reasoning += bytes } }
    func usage(input: Int, output: Int) { lock.withLock { _usage.0 += input; _usage.1 += output } }
    func diagnostic(kind: String, _ message: String) { lock.withLock { _diagnostics.append("\(kind) \(message)") } }
    private var _calls: [ToolCallRequest] = []
    func toolCall(_ call: ToolCallRequest) { lock.withLock { _calls.append(call) } }
    var calls: [ToolCallRequest] { lock.withLock { _calls } }

    var textString: String { lock.withLock { String(decoding: _text, as: UTF8.self) } }
    var chunks: Int { lock.withLock { _chunks } }
    var reasoningString: String { lock.withLock { String(decoding: _reasoning, as: UTF8.self) } }
    var diagnostics: [String] { lock.withLock { _diagnostics } }
    var usageTotals: (Int, Int) { lock.withLock { _usage } }
}

@Suite("exec provider")
struct ExecProviderTests {
    func request(_ turns: [(Turn.Role, String)], system: String = "", model: String = "m1") -> ProviderRequest {
        ProviderRequest(model: model, systemPrompt: Array(system.utf8),
                        turns: turns.map { Turn(role: $0.0, content: Array($0.1.utf8)) }, settings: [:])
    }

    @Test("stdin gets the conversation, stdout streams back, stderr lines are diagnostics, {model} is replaced")
    func roundTrip() async throws {
        let script = "import sys; data = sys.stdin.read(); print('model=' + sys.argv[1]); sys.stdout.write(data.upper()); print('note: done', file=sys.stderr)"
        let provider = ExecProvider(command: ["python3", "-c", script, "{model}"])
        let sink = RecordingSink()
        try await provider.respond(to: request([(.user, "first"), (.assistant, "one"), (.user, "second")], system: "Be brief."), into: sink)
        #expect(sink.textString == "model=m1\nSYSTEM: BE BRIEF.\n\nUSER: FIRST\n\nASSISTANT: ONE\n\nUSER: SECOND\n")
        #expect(sink.diagnostics == ["exec python3: note: done"])
    }

    @Test("a single message is sent alone; json input is one object per line")
    func inputFormats() {
        #expect(ExecProvider.standardInput(for: request([(.user, "hi\n")]), format: .text) == Array("hi\n".utf8))
        let json = String(decoding: ExecProvider.standardInput(for: request([(.user, "a"), (.assistant, "b"), (.user, "c/d")], system: "s"), format: .json), as: UTF8.self)
        #expect(json == """
            {"content":"s","role":"system"}
            {"content":"a","role":"user"}
            {"content":"b","role":"assistant"}
            {"content":"c/d","role":"user"}

            """)
    }

    @Test("a non-zero exit fails with its last stderr line; a missing program fails clearly")
    func failures() async throws {
        let provider = ExecProvider(command: ["/bin/sh", "-c", "echo partial; echo 'oops: bad input' >&2; exit 3"])
        let sink = RecordingSink()
        await #expect(throws: ProviderError.self) { try await provider.respond(to: request([(.user, "x")]), into: sink) }
        do {
            try await provider.respond(to: request([(.user, "x")]), into: RecordingSink())
        } catch let error as ProviderError {
            #expect(error.message == "exec /bin/sh: exit status 3: oops: bad input")
        }
        #expect(sink.textString == "partial\n")
        let missing = ExecProvider(command: ["/nonexistent/tool"])
        do {
            try await missing.respond(to: request([(.user, "x")]), into: RecordingSink())
            Issue.record("expected a failure")
        } catch let error as ProviderError {
            #expect(error.message.hasPrefix("exec /nonexistent/tool: "))
        }
    }

    @Test("cancelling the request kills the child")
    func cancelKills() async throws {
        // A grandchild too: the shell runs sleep, whose argument is unique to this test. It
        // sleeps 299 s, far beyond every bound below: only a kill ends it within them.
        let marker = "299.\(Int.random(in: 100_000...999_999))"
        let provider = ExecProvider(command: ["/bin/sh", "-c", "echo started; sleep \(marker); echo never"])
        let sink = RecordingSink()
        let task = Task { try await provider.respond(to: request([(.user, "x")]), into: sink) }
        try await SocketTestSupport.eventually("the child prints its first line") { !sink.textString.isEmpty }
        #expect(sink.textString == "started\n")
        let started = Date()
        task.cancel()
        _ = await task.result
        #expect(Date().timeIntervalSince(started) < 290, "cancel does not wait for the child's 299 s")
        func alive() -> Bool {
            // The processes only (not a walk of all of /proc: that takes seconds, once per poll).
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [])
                .filter { $0.allSatisfy(\.isNumber) }
                .contains { pid in (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.contains(marker) ?? false }
        }
        // Killed, not left to run out its sleep: gone within the bound (a reaped process leaves /proc).
        let gone = try await SocketTestSupport.eventually("the child and its own child are gone after cancel") { !alive() }
        #expect(gone, "the child and its own child are gone after cancel")
        #expect(!sink.textString.contains("never"))
    }
}
