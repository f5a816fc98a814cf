@testable import AIFSCore
import Foundation
import Synchronization
import Testing

/// Models discovered: `GET /v1/models` of OpenAI-compatible and Anthropic servers (the
/// in-process fake), cached for `models_ttl`; providers without a `models` list take any name.
@Suite("model listing", .serialized)
struct ModelListingTests {
    func provider(_ server: FakeModelServer, _ dialect: HTTPModelProvider.Dialect, ttl: Double = 600) -> HTTPModelProvider {
        var settings = HTTPModelProvider.Settings(name: "p", dialect: dialect,
                                                  baseURL: dialect == .openai ? server.baseURL + "/v1" : server.baseURL, apiKey: "sk-list-secret")
        settings.listsModels = true
        settings.modelsTTL = ttl
        return HTTPModelProvider(settings: settings)
    }

    func withServer(_ body: (FakeModelServer) async throws -> Void) async throws {
        let server = try await FakeModelServer.start()
        do { try await body(server) } catch { try? await server.stop(); throw error }
        try await server.stop()
    }

    /// Waits for the listing to be current (the callback, not a delay).
    func current(_ listing: ModelListing) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in listing.whenCurrent { done.resume() } }
    }

    static let llamaList = #"{"object":"list","data":[{"id":"gemma3-270m-q4_k_m","object":"model","meta":{"n_ctx":2048}},{"id":"org/other:8b","context_length":8192},{"id":"has space"},{"object":"model"}]}"#

    @Test("OpenAI-compatible: ids and context windows listed, with the key; bad ids skipped")
    func openAIListing() async throws {
        try await withServer { server in
            server.enqueue(.status(200, body: Self.llamaList))
            let provider = provider(server, .openai)
            let listing = try #require(provider.modelListing)
            await current(listing)
            #expect(listing.models?.ids == ["gemma3-270m-q4_k_m", "org/other:8b"])
            #expect(listing.problem == nil)
            #expect(provider.contextTokens(model: "gemma3-270m-q4_k_m") == 2048)
            #expect(provider.contextTokens(model: "org/other:8b") == 8192)
            let sent = try #require(server.requests.first)
            #expect(sent.method == "GET" && sent.path == "/v1/models")
            #expect(sent.header("authorization") == "Bearer sk-list-secret")
        }
    }

    @Test("Anthropic: x-api-key and anthropic-version sent; has_more pages followed with after_id")
    func anthropicPages() async throws {
        try await withServer { server in
            server.enqueue(.status(200, body: #"{"data":[{"type":"model","id":"claude-a"}],"has_more":true,"first_id":"claude-a","last_id":"claude-a"}"#),
                           .status(200, body: #"{"data":[{"type":"model","id":"claude-b"}],"has_more":false,"last_id":"claude-b"}"#))
            let listing = try #require(provider(server, .anthropic).modelListing)
            await current(listing)
            #expect(listing.models?.ids == ["claude-a", "claude-b"])
            let paths = server.requests.map(\.path)
            #expect(paths == ["/v1/models", "/v1/models?limit=1000&after_id=claude-a"], "\(paths)")
            #expect(server.requests.allSatisfy { $0.header("x-api-key") == "sk-list-secret" && $0.header("anthropic-version") == "2023-06-01" })
        }
    }

    @Test("cached within models_ttl; fetched again once older; a failure keeps the last list and says why, without the key")
    func cachingAndFailure() async throws {
        try await withServer { server in
            server.enqueue(.status(200, body: Self.llamaList))
            let fresh = try #require(provider(server, .openai).modelListing)
            await current(fresh)
            await current(fresh)
            #expect(server.requests.count == 1, "a fresh listing is not fetched again")

            server.enqueue(.status(200, body: Self.llamaList),
                           .status(401, body: #"{"error":{"message":"bad key sk-list-secret"}}"#))
            let stale = try #require(provider(server, .openai, ttl: 0).modelListing)
            await current(stale)
            #expect(stale.models?.ids.count == 2)
            await current(stale)  // ttl 0: fetched again, and refused
            #expect(server.requests.count == 3)
            #expect(stale.models?.ids.count == 2, "the last list is kept")
            let problem = try #require(stale.problem)
            #expect(problem.hasPrefix("GET \(server.baseURL)/v1/models: HTTP 401: bad key [redacted]"), "\(problem)")
        }
    }

    @Test("a server that does not list, or is not there: the reason, and whenCurrent still answers")
    func cannotList() async throws {
        try await withServer { server in
            server.enqueue(.status(200, body: #"{"models":[]}"#))
            let listing = try #require(provider(server, .openai).modelListing)
            await current(listing)
            #expect(listing.problem?.contains("not a model list") == true, "\(listing.problem ?? "")")
            #expect(listing.models == nil)
        }
        var settings = HTTPModelProvider.Settings(name: "gone", dialect: .openai, baseURL: "http://127.0.0.1:9/v1", apiKey: nil)
        settings.listsModels = true
        settings.idleTimeout = 1
        let listing = try #require(HTTPModelProvider(settings: settings).modelListing)
        await current(listing)
        #expect(listing.problem?.hasPrefix("GET http://127.0.0.1:9/v1/models: ") == true, "\(listing.problem ?? "")")
    }

    @Test("a server that sends the head and never the body: the fetch ends at its timeout, so an open of /ai/models ends")
    func bodyNeverComes() async throws {
        try await withServer { server in
            server.enqueue(.gated(.status(200, body: Self.llamaList), after: 0, gate: FakeGate()))  // the gate never opens
            var settings = HTTPModelProvider.Settings(name: "p", dialect: .openai, baseURL: server.baseURL + "/v1", apiKey: nil)
            settings.listsModels = true
            settings.idleTimeout = 0.5
            let listing = try #require(HTTPModelProvider(settings: settings).modelListing)
            await current(listing)
            #expect(listing.problem == "GET \(server.baseURL)/v1/models: no complete answer within 0.5s", "\(listing.problem ?? "")")
            #expect(listing.models == nil)
        }
    }

    @Test("a provider without models takes any name and /ai/models adds the server's; a models list still restricts")
    func catalog() async throws {
        try await withServer { server in
            server.enqueue(.status(200, body: Self.llamaList))
            let open = provider(server, .openai)
            let catalog = ModelCatalog(modelIDs: ["echo", "echo/slow", "po", "fixed/a"], defaultModel: "echo",
                                       providers: ["po": open, "fixed": open], openProviders: ["po"])
            #expect(catalog.contains("po/anything-at-all:7b") && catalog.contains("po/org/model"))
            #expect(!catalog.contains("po/two words") && !catalog.contains("po/") && !catalog.contains("fixed/b"))
            #expect(catalog.contains("fixed/a"))
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in catalog.whenListed { done.resume() } }
            #expect(catalog.listedIDs == ["echo", "echo/slow", "po", "fixed/a", "po/gemma3-270m-q4_k_m", "po/org/other:8b"])
            #expect(catalog.providerStatus.map(\.status) == ["ok", "ok, 2 models listed"])
        }
    }

    @Test("configuration: kind and base_url alone make an open provider; models_ttl is read; a default of any name is accepted")
    func configuration() throws {
        let text = """
            [models]
            default = "po/whatever-the-server-has"
            [providers.po]
            kind = "openai"
            base_url = "http://127.0.0.1:8080/v1"
            models_ttl = "90s"
            [providers.fixed]
            kind = "anthropic"
            models = ["claude-x"]
            """
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aifs-listing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("c.toml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let loaded = try ConfigLoader().load(explicitFile: file.path)
        let configuration = loaded.configuration
        #expect(configuration.openProviders == ["po"])
        #expect(configuration.providers["po"]?.modelsTTL == 90)
        #expect(configuration.accepts("po/anything") && !configuration.accepts("fixed/other"))
        let catalog = ModelCatalog.from(configuration)
        #expect(catalog.provider(named: "po")?.modelListing != nil && catalog.provider(named: "fixed")?.modelListing == nil)
    }
}
