@testable import AIFSCore
import Foundation
import FuseKit
import Testing

/// The durable store without a mount: what a registry records comes back at the next load.
@Suite("durable store")
struct StoreTests {
    /// A store in a fresh temp directory (removed by `cleanUp`).
    final class TempStore {
        let directory: String
        var path: String { directory + "/data/aifs.db" }
        init() {
            directory = NSTemporaryDirectory() + "aifs-store-test-\(UUID().uuidString.prefix(8))"
        }
        func open(_ retention: RetentionPolicy = RetentionPolicy()) throws -> SQLiteStore {
            try SQLiteStore(options: StoreOptions(path: path, retention: retention))
        }
        func cleanUp() { try? FileManager.default.removeItem(atPath: directory) }
        /// Opens the store, loads it (empty) and makes a registry on it.
        func openFresh(_ tests: StoreTests, catalog: ModelCatalog = StoreTests.catalog) throws -> (SQLiteStore, SocketRegistry) {
            let store = try open()
            _ = try store.load()
            return (store, tests.registry(store, catalog: catalog))
        }
    }

    static let catalog = ModelCatalog.builtIn(echo: EchoProvider(slowChunkDelay: .milliseconds(20)))

    /// `echo/slow` streams its first word, then never goes on (until cancelled): a daemon that
    /// stops while it works always stops mid-reply, however slow the machine. `echo` is echo.
    static let stallingCatalog = ModelCatalog(modelIDs: ["echo", "echo/slow"], defaultModel: "echo", providers: ["echo": StallingEcho()])

    struct StallingEcho: Provider {
        func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
            guard request.model == "slow" else { return try await EchoProvider().respond(to: request, into: sink) }
            if let first = EchoProvider.chunks(of: request.latestUserMessage, slow: true).first { sink.text(first) }
            try await CancellableSleep.sleep(seconds: 86_400)
        }
    }

    func registry(_ store: SQLiteStore, contents: StoreContents? = nil, catalog: ModelCatalog = StoreTests.catalog) -> SocketRegistry {
        let environment = SocketEnvironment(store: store, catalog: catalog)
        if let contents { return SocketRegistry(environment: environment, restoring: contents) }
        return SocketRegistry(environment: environment)
    }

    func submit(_ socket: Socket, _ text: String) async -> Errno? {
        await SocketTestSupport.submit(socket, text, uid: 7)
    }

    func idle(_ socket: Socket) async throws {
        try await SocketTestSupport.idle(socket)
    }

    /// Waits until everything recorded so far is committed and indexed for search, as
    /// `search()` does before it runs (the writer keeps order).
    func flush(_ store: SQLiteStore) async {
        await withCheckedContinuation { continuation in store.record([], indexingMemories: true) { _ in continuation.resume() } }
    }

    func search(_ store: SQLiteStore, _ query: String) -> Result<[MemoryHit], MemorySearchError> {
        store.runSearch(query, limit: 100)
    }

    @Test("settings, prompt, context, transcript, unread output and errors come back after close and reopen")
    func roundTrip() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        do {
            let (store, sockets) = try temp.openFresh(self)
            let a = try sockets.create(name: FileName("apollo"), uid: 7, gid: 8, mode: 0o750)
            try a.apply([.set(.temperature, "0.5"), .headers(true)])
            try a.setPrompt(Array("You are Apollo.\n".utf8))
            #expect(await submit(a, "hello store\n") == nil)
            try await idle(a)
            a.reportError(kind: "test", "something to remember")
            let b = try sockets.create(name: FileName("gone"), uid: 0, gid: 0, mode: 0o755)
            try sockets.remove(name: b.name)
            try sockets.rename(from: "apollo", to: FileName("athena"))
            store.close()
        }
        let store = try temp.open()
        defer { store.close() }
        let contents = try store.load()
        #expect(contents.sockets.count == 1)
        let snapshot = try #require(contents.sockets.first)
        #expect(snapshot.record.name == "athena")
        #expect(snapshot.record.settings[.temperature] == "0.5")
        #expect(snapshot.record.headers)
        #expect(snapshot.record.prompt == Array("You are Apollo.\n".utf8))
        #expect(snapshot.record.uid == 7 && snapshot.record.gid == 8 && snapshot.record.mode == 0o750)
        #expect(snapshot.record.messages == 1 && snapshot.record.nextMessageID == 2)
        #expect(snapshot.context == [Turn(role: .user, content: Array("hello store\n".utf8)),
                                     Turn(role: .assistant, content: Array("hello store\n".utf8))])
        #expect(snapshot.queue.isEmpty && snapshot.interrupted == nil)
        #expect(String(decoding: snapshot.output.bytes, as: UTF8.self) == "[team-chat-from-apollo]\nhello store\n")
        #expect(String(decoding: snapshot.errors.bytes, as: UTF8.self).hasSuffix(" test something to remember\n"))
        let transcript = String(decoding: snapshot.transcript, as: UTF8.self)
        #expect(transcript.contains("[team-chat-to-apollo] ") && transcript.contains(" uid=7 id=1\nhello store\n"))
        #expect(transcript.contains("[team-chat-from-apollo] "))
        #expect(contents.nextSocketID == snapshot.record.id + 2, "the removed socket's id is not handed out again")
    }

    @Test("a restored socket answers its queue again and says so in error")
    func restoredQueueIsAnswered() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        do {
            let (store, sockets) = try temp.openFresh(self, catalog: Self.stallingCatalog)
            let s = try sockets.create(name: FileName("slow"), model: "echo/slow", uid: 0, gid: 0, mode: 0o755)
            for text in ["one two three four five six seven eight\n", "second\n", "[priority-high] urgent\n"] {
                #expect(await submit(s, text) == nil)
            }
            try await SocketTestSupport.eventually("the first is in flight, partly streamed") { s.info.inFlight && s.info.unreadBytes > 0 }
            sockets.shutdownAll()
            store.close()
        }
        let store = try temp.open()
        defer { store.close() }
        let contents = try store.load()
        let snapshot = try #require(contents.sockets.first)
        #expect(snapshot.queue.map { String(decoding: $0.content, as: UTF8.self) }
                == ["one two three four five six seven eight\n", "urgent\n", "second\n"])
        #expect(snapshot.interrupted == 1)
        let socket = try #require(registry(store, contents: contents).socket(named: "slow"))
        try await idle(socket)
        let errors = String(decoding: socket.readErrors(max: 4096), as: UTF8.self)
        #expect(errors.contains("restart message 1 was in flight when the daemon stopped"))
        let transcript = String(decoding: socket.readTranscript(offset: 0, size: 1 << 20), as: UTF8.self)
        #expect(transcript.components(separatedBy: "[team-chat-from-slow]").count - 1 == 3)
    }

    @Test("wires, team settings, unread team output and team messages still queued come back; the round collects them")
    func teamAndWiresRoundTrip() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        do {
            let (store, sockets) = try temp.openFresh(self, catalog: Self.stallingCatalog)
            let a = try sockets.create(name: FileName("a"), uid: 0, gid: 0, mode: 0o755)
            let b = try sockets.create(name: FileName("b"), uid: 0, gid: 0, mode: 0o755)
            try sockets.wire(a, to: "b")
            sockets.team.apply([.mode(.discuss), .moderator("b"), .timeout(42)])
            try b.apply([.model("echo/slow")])
            #expect(await TeamTestSupport.send(sockets.team, "[team-chat-to-a] first") == nil)
            try await idle(a)
            try await SocketTestSupport.eventually("the moderator's synthesis is in flight at b") { b.info.inFlight }
            // b never finishes here: its synthesis request is still in flight when the daemon stops.
            sockets.shutdownAll()
            await flush(store)
            store.close()
        }
        let store = try temp.open()
        defer { store.close() }
        let contents = try store.load()
        #expect(contents.team.settings == TeamSettings(mode: .discuss, moderator: "b", timeout: 42))
        #expect(String(decoding: contents.team.output.bytes, as: UTF8.self) == "[team-chat-from-a]\nfirst\n")
        let a = try #require(contents.sockets.first { $0.record.name == "a" })
        let b = try #require(contents.sockets.first { $0.record.name == "b" })
        #expect(a.record.wire == "b" && b.record.wire == "")
        #expect(b.queue.count == 1 && b.queue.first?.route.team?.synthesis == true)
        let sockets = registry(store, contents: contents)
        #expect(sockets.socket(named: "a")?.info.wire == "b")
        let text = try await TeamTestSupport.collect(sockets.team)
        #expect(text.hasPrefix("[team-chat-from-a]\nfirst\n[team-chat-from-b] [synthesis]\nSynthesize"), "\(text)")
    }

    @Test("memory search: words ANDed, phrases, OR, prefixes, bad syntax is an error")
    func memorySearch() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        let (store, sockets) = try temp.openFresh(self)
        defer { store.close() }
        let a = try sockets.create(name: FileName("a"), uid: 0, gid: 0, mode: 0o755)
        let b = try sockets.create(name: FileName("b"), uid: 0, gid: 0, mode: 0o755)
        #expect(await submit(a, "install nginx on debian\n") == nil)
        #expect(await submit(b, "nginx reverse proxy\nsecond line\n") == nil)
        #expect(await submit(b, "version nginx-1.2 released\n") == nil)
        try await idle(a)
        try await idle(b)
        await flush(store)
        func lines(_ query: String) -> [String] {
            guard case .success(let hits) = search(store, query) else { return ["error"] }
            return hits.map { "\($0.socket) \($0.kind) \($0.snippet.trimmingCharacters(in: .whitespacesAndNewlines))" }
        }
        #expect(Set(lines("nginx install")) == ["a input install nginx on debian", "a reply install nginx on debian"])
        #expect(lines("\"reverse proxy\"").count == 2)
        #expect(lines("debian OR proxy").count == 4)
        #expect(lines("instal*").count == 2)
        #expect(lines("nginx-1.2").count == 2, "plain words FTS5 cannot parse are quoted")
        #expect(lines("nothing-like-this").isEmpty)
        guard case .failure(let error) = search(store, "\"unbalanced") else { Issue.record("expected an error"); return }
        #expect(error.message.hasPrefix("bad search query: "))
        guard case .success(let hits) = search(store, "second") else { Issue.record("expected hits"); return }
        #expect(hits.allSatisfy { !$0.line.contains("\n") && $0.line.split(separator: "\t").count == 5 })
        #expect(hits.first.map { MemoryID.text($0.id).count } == 16)
    }

    @Test("retention keeps the newest max_rows memories")
    func retentionMaxRows() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        let store = try temp.open(RetentionPolicy(maxRows: 10))
        _ = try store.load()
        let events = (0..<50).map { StoreEvent.memory(MemoryEntry(time: WallClock.now(), socket: "r", kind: .event, content: "entry \($0)")) }
        await withCheckedContinuation { continuation in store.record(events) { _ in continuation.resume() } }
        // Pruning runs between batches: one more batch triggers it once enough was inserted.
        let deadline = ContinuousClock.now + SocketTestSupport.failureBound  // bounds a failure only
        while ContinuousClock.now < deadline {
            await flush(store)
            if case .success(let hits) = search(store, "entry"), hits.count == 10 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard case .success(let hits) = search(store, "entry") else { Issue.record("search failed"); return }
        #expect(hits.count == 10)
        #expect(Set(hits.map(\.snippet)) == Set((40..<50).map { "entry \($0)" }))
        store.close()
    }

    @Test("files are private and one daemon owns a store")
    func permissionsAndLock() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        let store = try temp.open()
        _ = try store.load()
        var st = stat()
        #expect(stat((temp.path as NSString).deletingLastPathComponent, &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(stat(temp.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(temp.path + "-wal", &st) == 0 && st.st_mode & 0o777 == 0o600)
        let started = Date()
        // The second open waits 5 s for the lock: on a thread of its own, not Swift's pool.
        let secondOpen: Result<Void, any Error> = await withCheckedContinuation { continuation in
            let options = StoreOptions(path: temp.path)
            Thread { continuation.resume(returning: Result { _ = try SQLiteStore(options: options) }) }.start()
        }
        #expect(throws: StoreError.self) { try secondOpen.get() }
        #expect(Date().timeIntervalSince(started) >= 4, "a second daemon waits a few seconds for the first to finish")
        store.close()
        let again = try temp.open()
        again.close()
    }

    @Test("a stream comes back from its chunks and cursor")
    func streamRestore() {
        let chunks = [
            StreamChunk(start: 0, bytes: Array("abc".utf8), failureAfter: false),
            StreamChunk(start: 3, bytes: Array("de".utf8), failureAfter: true),
            // 5..<9 was a reply cut by a crash and never stored
            StreamChunk(start: 9, bytes: Array("xyz".utf8), failureAfter: false),
        ]
        func unread(_ position: Int, _ pastMark: Bool = false) -> (String, [Int]) {
            let r = StreamChunk.unread(chunks, cursor: StreamCursor(position: position, pastMark: pastMark))
            return (String(decoding: r.bytes, as: UTF8.self), r.failureMarks)
        }
        #expect(unread(0) == ("abcdexyz", [5]))
        #expect(unread(4) == ("exyz", [1]))
        #expect(unread(5) == ("xyz", [0]))
        #expect(unread(5, true) == ("xyz", []))
        #expect(unread(7) == ("xyz", []))
        #expect(unread(10) == ("yz", []))
        #expect(unread(12, true) == ("", []))
    }

    @Test("memory ids grow with time and print as 16 digits")
    func memoryIDs() {
        var ids = MemoryID()
        let a = ids.next(at: 1_700_000_000.0)
        let b = ids.next(at: 1_700_000_000.0)
        let c = ids.next(at: 1_699_999_999.0)  // the clock stepped back: still increasing
        #expect(a < b && b < c)
        #expect(MemoryID.first(at: 1_700_000_000.0) == a)
        #expect(MemoryID.text(a).count == 16 && MemoryID.text(42) == "0000000000000042")
    }

    @Test("plain words versus FTS5 syntax")
    func queries() {
        #expect(!MemoryQuery.usesSyntax("nginx install"))
        #expect(!MemoryQuery.usesSyntax("nginx-1.2 it's"))
        #expect(MemoryQuery.usesSyntax("\"exact phrase\""))
        #expect(MemoryQuery.usesSyntax("a OR b"))
        #expect(MemoryQuery.usesSyntax("pre*"))
        #expect(MemoryQuery.usesSyntax("NEAR(a b)"))
        #expect(MemoryQuery.quotedWords("nginx-1.2 say \"hi\"") == "\"nginx-1.2\" \"say\" \"\"\"hi\"\"\"")
        // Found by FuzzTests: a quote followed by a combining mark was not doubled.
        #expect(Array(MemoryQuery.quotedWords("NOT\"\u{301}").unicodeScalars) == Array("\"NOT\"\"\u{301}\"".unicodeScalars))
    }

    /// Found by FuzzTests: "nginxa NOT\"\u{301}" is plain words to `usesSyntax` (as characters
    /// there is no lone `"`), yet its quoted form was an unterminated FTS5 string.
    @Test("plain words with a quote and a combining mark are searched, not refused")
    func quoteWithCombiningMark() async throws {
        let temp = TempStore()
        defer { temp.cleanUp() }
        let (store, _) = try temp.openFresh(self)
        defer { store.close() }
        for query in ["nginxa NOT\"\u{301}", "a\"\u{301}b", "\"\u{301}"] {
            guard case .success = search(store, query) else { Issue.record("\(query.debugDescription) was refused"); continue }
        }
    }

    @Test("durations for memory.max_age")
    func durations() {
        #expect(RetentionPolicy.parseDuration("90") == 90)
        #expect(RetentionPolicy.parseDuration("15m") == 900)
        #expect(RetentionPolicy.parseDuration("12h") == 43_200)
        #expect(RetentionPolicy.parseDuration("30d") == 2_592_000)
        #expect(RetentionPolicy.parseDuration("2w") == 1_209_600)
        #expect(RetentionPolicy.parseDuration("soon") == nil)
        #expect(RetentionPolicy.parseDuration("-1d") == nil)
    }
}
