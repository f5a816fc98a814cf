import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The models an HTTP provider's server lists at `GET /v1/models` (OpenAI and everything that
/// speaks it: llama.cpp, Ollama, vLLM, LM Studio, OpenRouter; and Anthropic), for `/ai/models`
/// and for the context window a server reports per model (llama.cpp's `meta.n_ctx`,
/// OpenRouter's `context_length`).
///
/// Cached: fetched when first wanted and again once older than `ttl`; a `reload` makes a new
/// listing (so it fetches afresh). A fetch that fails keeps the models listed before and says
/// why in ``problem``. Nothing here blocks: ``whenCurrent(_:)`` starts a fetch that is due and
/// calls back once none is in flight.
public final class ModelListing: Sendable {
    public struct Models: Sendable, Equatable {
        public var ids: [String]
        public var contextTokens: [String: Int]
    }

    private struct State {
        var models: Models?
        var problem: String?
        var fetched: ContinuousClock.Instant?
        var fetching = false
        var waiters: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    private let url: String
    private let headers: HTTPHeaders
    private let ttl: Duration
    private let timeout: Double
    private let client: HTTPClient
    private let redact: @Sendable (String) -> String

    /// The most pages of an Anthropic listing followed (1,000 models each).
    static let maxPages = 20

    init(url: String, headers: HTTPHeaders, ttl: Double, timeout: Double, client: HTTPClient,
         redact: @escaping @Sendable (String) -> String) {
        self.url = url
        self.headers = headers
        self.ttl = .milliseconds(Int64(ttl * 1000))
        self.timeout = timeout
        self.client = client
        self.redact = redact
    }

    /// What the last successful fetch listed; nil before one.
    public var models: Models? { state.withLock { $0.models } }
    /// Why the last fetch failed; nil after a success.
    public var problem: String? { state.withLock { $0.problem } }

    /// Calls `body` once the listing is current: at once when it is fresh, else after the fetch
    /// (started now if none is in flight) has ended, whatever its outcome.
    public func whenCurrent(_ body: @escaping @Sendable () -> Void) {
        let (now, start) = state.withLock { s -> (Bool, Bool) in
            let due = s.fetched.map { ContinuousClock.now - $0 >= ttl } ?? true
            guard due || s.fetching else { return (true, false) }
            s.waiters.append(body)
            defer { s.fetching = true }
            return (false, !s.fetching)
        }
        if now { return body() }
        if start { Task { await refresh() } }
    }

    /// Fetches now, waiting for the outcome (`aifs doctor`). The whole fetch, every page's head
    /// and body, ends within `timeout`: an `open` of `/ai/models` waits for it.
    public func fetch() async -> Result<Models, ProviderError> {
        let (url, headers, timeout, client, redact) = (url, headers, timeout, client, redact)
        return await withTaskGroup(of: Result<Models, ProviderError>.self) { group in
            group.addTask { await Self.fetch(url: url, headers: headers, timeout: timeout, client: client, redact: redact) }
            group.addTask {
                try? await CancellableSleep.sleep(seconds: timeout)
                return .failure(ProviderError("GET \(url): no complete answer within \(HTTPModelProvider.seconds(timeout))"))
            }
            defer { group.cancelAll() }
            return await group.next()!
        }
    }

    private func refresh() async {
        let result = await fetch()
        let waiters = state.withLock { s -> [@Sendable () -> Void] in
            switch result {
            case .success(let models):
                s.models = models
                s.problem = nil
            case .failure(let error):
                s.problem = error.message
            }
            s.fetched = .now
            s.fetching = false
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter() }
    }

    private static func fetch(url: String, headers: HTTPHeaders, timeout: Double, client: HTTPClient,
                              redact: @Sendable (String) -> String) async -> Result<Models, ProviderError> {
        var models = Models(ids: [], contextTokens: [:])
        var after: String?
        for _ in 0..<maxPages {
            var request = HTTPClientRequest(url: after.map { url + "?limit=1000&after_id=" + Self.queryEscaped($0) } ?? url)
            request.headers = headers
            do {
                let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
                let body = try await response.body.collect(upTo: 8 * 1024 * 1024)
                guard response.status == .ok else {
                    let text = redact(HTTPModelProvider.errorMessage(in: String(buffer: body), status: response.status))
                    return .failure(ProviderError("GET \(url): HTTP \(response.status.code): \(text)"))
                }
                guard let page = Self.page(Data(body.readableBytesView)) else {
                    return .failure(ProviderError("GET \(url): not a model list (no \"data\" array of objects with an \"id\")"))
                }
                for (id, window) in page.models where !models.ids.contains(id) {
                    models.ids.append(id)
                    if let window { models.contextTokens[id] = window }
                }
                guard let next = page.next else { return .success(models) }
                after = next
            } catch {
                return .failure(ProviderError("GET \(url): \(redact(HTTPModelProvider.describe(error)))"))
            }
        }
        return .success(models)
    }

    /// One page: each model's id and context window, and the id to list after when the server
    /// says there is more (Anthropic's `has_more` and `last_id`).
    static func page(_ data: Data) -> (models: [(String, Int?)], next: String?)? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = object["data"] as? [[String: Any]] else { return nil }
        var models: [(String, Int?)] = []
        for entry in entries {
            guard let id = entry["id"] as? String, ModelCatalog.isModelName(id) else { continue }
            let meta = entry["meta"] as? [String: Any]
            let window = (meta?["n_ctx"] as? Int) ?? (entry["context_length"] as? Int) ?? (entry["context_window"] as? Int)
            models.append((id, window.flatMap { $0 > 0 ? $0 : nil }))
        }
        let more = object["has_more"] as? Bool ?? false
        return (models, more ? object["last_id"] as? String : nil)
    }

    private static func queryEscaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
