import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A model behind an HTTP API that streams its reply: OpenAI Chat Completions (and everything
/// that speaks it: Ollama, vLLM, llama.cpp, LM Studio, OpenRouter) or Anthropic Messages.
///
/// One request per message. The body is decoded as it arrives, on the event loop that reads it
/// (`StreamingResponse`): split into SSE events on its bytes by our own `SSEReader`, each event
/// becoming text, reasoning, usage, the end, or an error — by the fast path for plain text
/// deltas (`fastDecode`), else by the general decoder (`OpenAIFormat`, `AnthropicFormat`), in
/// `StreamDecoder`. Nothing waits for the whole reply.
///
/// Failures: connection errors, HTTP 429/500/502/503/504/529, and a stream that breaks or
/// reports overload *before any text was streamed* are retried with exponential backoff and
/// jitter (`RetryPolicy`, honouring `retry-after-ms`, then `retry-after`), each retry a line in
/// `error`. 400/401/403/404, malformed data, and any failure after text was streamed are final.
/// An idle timeout limits the silence between two chunks, and a total timeout the whole request.
/// The API key goes into a header and nowhere else: no error message, log line or file shows it.
public struct HTTPModelProvider: Provider {
    public enum Dialect: String, Sendable { case openai, anthropic }

    public struct Settings: Sendable {
        public var name: String
        public var dialect: Dialect
        /// `https://api.openai.com/v1` (the client appends `/chat/completions`) or
        /// `https://api.anthropic.com` (the client appends `/v1/messages`).
        public var baseURL: String
        public var apiKey: String?
        public var headers: [String: String] = [:]
        public var timeout: Double = 300
        public var idleTimeout: Double = 60
        public var retry = RetryPolicy()
        public var maxTokens: Int = 1024
        public var anthropicVersion = "2023-06-01"
        /// Why there is no key although one is configured (every request then fails with it).
        public var missingKey: String?
        /// Ask the server which models it has (`GET /v1/models`): for a provider configured
        /// without a `models` list.
        public var listsModels = false
        /// How long a model listing is used before it is fetched again (`models_ttl`).
        public var modelsTTL: Double = 600

        public init(name: String, dialect: Dialect, baseURL: String, apiKey: String?) {
            self.name = name
            self.dialect = dialect
            self.baseURL = baseURL
            self.apiKey = apiKey
        }
    }

    public let settings: Settings
    private let client: HTTPClient

    /// `client`: by default the one HTTP providers with this idle timeout share
    /// (``SharedHTTPClients``).
    public init(settings: Settings, client: HTTPClient? = nil) {
        self.settings = settings
        let client = client ?? SharedHTTPClients.client(connectTimeout: settings.idleTimeout)
        self.client = client
        modelListing = settings.listsModels ? ModelListing(url: Self.modelsURL(settings), headers: Self.headers(settings),
                                                           ttl: settings.modelsTTL, timeout: min(settings.idleTimeout, 10),
                                                           client: client, redact: Self.redactor(settings)) : nil
    }

    /// What the server lists at `GET /v1/models` (nil unless `listsModels`).
    public let modelListing: ModelListing?

    /// The context window the server reports for `model` in its listing.
    public func contextTokens(model: String) -> Int? { modelListing?.models?.contextTokens[model] }

    /// Where the server lists its models.
    static func modelsURL(_ settings: Settings) -> String {
        let base = settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL
        switch settings.dialect {
        case .openai: return base + "/models"
        case .anthropic: return base + "/v1/models"
        }
    }

    /// The headers of every request: the key, the API version, the configured headers.
    static func headers(_ settings: Settings) -> HTTPHeaders {
        var headers = HTTPHeaders()
        switch settings.dialect {
        case .openai:
            if let key = settings.apiKey, !key.isEmpty { headers.add(name: "authorization", value: "Bearer \(key)") }
        case .anthropic:
            if let key = settings.apiKey, !key.isEmpty { headers.add(name: "x-api-key", value: key) }
            headers.add(name: "anthropic-version", value: settings.anthropicVersion)
        }
        for (name, value) in settings.headers { headers.replaceOrAdd(name: name, value: value) }
        return headers
    }

    /// The endpoint a request goes to.
    public var endpoint: String {
        let base = settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL
        switch settings.dialect {
        case .openai: return base + "/chat/completions"
        case .anthropic: return base + "/v1/messages"
        }
    }

    public func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
        if let missingKey = settings.missingKey { throw ProviderError("\(settings.name): \(missingKey)") }
        let streamed = StreamProgress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await respondWithRetries(request, sink: sink, streamed: streamed) }
            group.addTask {
                try await CancellableSleep.sleep(seconds: settings.timeout)
                throw ProviderError("\(settings.name): no complete reply within \(Self.seconds(settings.timeout)) (timeout)")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private func respondWithRetries(_ request: ProviderRequest, sink: any ReplySink, streamed: StreamProgress) async throws {
        var attempt = 1
        while true {
            do {
                try await attemptOnce(request, sink: sink, streamed: streamed)
                return
            } catch let failure as RetryableFailure {
                if streamed.any {
                    throw ProviderError("\(settings.name): \(failure.message) after part of the reply was streamed")
                }
                guard attempt < settings.retry.maxAttempts else {
                    throw ProviderError("\(settings.name): \(failure.message) (gave up after \(attempt) attempts)")
                }
                let delay = settings.retry.delay(afterAttempt: attempt, retryAfterMs: failure.retryAfterMs, retryAfter: failure.retryAfter)
                sink.diagnostic(kind: "provider", "\(settings.name): \(failure.message); retry \(attempt) of \(settings.retry.maxAttempts - 1) in \(Self.seconds(delay))")
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                attempt += 1
            }
        }
    }

    /// One HTTP request: the reply decoded as it arrives, on the event loop that reads it
    /// (`StreamingResponse`), with a watchdog for the idle timeout.
    private func attemptOnce(_ request: ProviderRequest, sink: any ReplySink, streamed: StreamProgress) async throws {
        var headers = Self.headers(settings)
        if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        if !headers.contains(name: "accept") { headers.add(name: "accept", value: "text/event-stream") }
        let http: HTTPClient.Request
        do {
            http = try HTTPClient.Request(url: endpoint, method: .POST, headers: headers, body: .bytes(body(for: request)))
        } catch {
            throw ProviderError("\(settings.name): cannot send to \(endpoint): \(Self.describe(error))")
        }
        let lastChunk = LastChunkClock()
        let response = StreamingResponse(sink: sink, decoder: { [self] gated in
            StreamDecoder(dialect: settings.dialect, name: settings.name, sink: gated, streamed: streamed, redact: { [self] in redacted($0) })
        }, endpoint: endpoint, lastChunk: lastChunk)
        let idle = settings.idleTimeout
        let outcome = try await withThrowingTaskGroup(of: StreamingResponse.Outcome?.self) { group in
            group.addTask { try await response.run(http, on: client) }
            group.addTask {
                while true {
                    try await CancellableSleep.sleep(seconds: max(0.01, idle / 4))
                    let silence = lastChunk.silence
                    if response.answered, silence > .milliseconds(Int(idle * 1000)) {
                        throw RetryableFailure(message: "no data for \(Self.seconds(idle)) (idle timeout)")
                    }
                    // Before the head, the client's connect timeout (the same) gives the reason
                    // first; this is for a server that accepted and then said nothing.
                    if !response.answered, silence > .milliseconds(Int(idle * 1500)) {
                        throw RetryableFailure(message: "cannot reach \(endpoint): no response within \(Self.seconds(idle)) (idle timeout)")
                    }
                }
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard case .refused(let status, let responseHeaders, let text)? = outcome else { return }
        let message = "HTTP \(status.code): \(redacted(Self.errorMessage(in: text, status: status)))"
        if RetryPolicy.isRetryable(status: Int(status.code)) {
            throw RetryableFailure(message: message, retryAfterMs: responseHeaders.first(name: "retry-after-ms"),
                                   retryAfter: responseHeaders.first(name: "retry-after"))
        }
        throw ProviderError("\(settings.name): \(message)")
    }

    func body(for request: ProviderRequest) -> [UInt8] {
        let system = String(decoding: request.systemPrompt, as: UTF8.self)
        let turns = request.turns.map { (role: $0.role.rawValue, content: String(decoding: $0.content, as: UTF8.self)) }
        let temperature = request.settings[.temperature].flatMap(Double.init)
        let topP = request.settings[.topP].flatMap(Double.init)
        let maxTokens = request.settings[.maxTokens].flatMap(Int.init)
        switch settings.dialect {
        case .openai:
            return OpenAIFormat.requestBody(model: request.model, system: system, turns: turns,
                                          temperature: temperature, maxTokens: maxTokens, topP: topP,
                                          tools: request.tools, rounds: request.toolRounds)
        case .anthropic:
            return AnthropicFormat.requestBody(model: request.model, system: system, turns: turns,
                                             maxTokens: maxTokens ?? settings.maxTokens, temperature: temperature, topP: topP,
                                             tools: request.tools, rounds: request.toolRounds)
        }
    }

    /// The `error.message` of a JSON error body, else the start of the body, else the reason phrase.
    /// `text` with every secret this provider sends (its API key, the values of configured
    /// headers) replaced by `[redacted]`: a server that echoes a key in an error body must not
    /// put it into `error`, memory or a log.
    func redacted(_ text: String) -> String { Self.redactor(settings)(text) }

    /// `redacted` for `settings`, as a function.
    static func redactor(_ settings: Settings) -> @Sendable (String) -> String {
        let secrets = settings.headers.map(\.1) + (settings.apiKey.map { [$0] } ?? [])
        return { text in Self.redact(text, secrets) }
    }

    private static func redact(_ text: String, _ secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.count >= 6 {
            result = result.replacingOccurrences(of: secret, with: "[redacted]")
            // Also the bare token of an "Authorization: Bearer TOKEN" header value.
            if secret.hasPrefix("Bearer "), secret.count > 13 {
                result = result.replacingOccurrences(of: String(secret.dropFirst(7)), with: "[redacted]")
            }
        }
        return result
    }

    static func errorMessage(in body: String, status: HTTPResponseStatus) -> String {
        if let data = body.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
            if let message = object["error"] as? String { return message }
            if let message = object["message"] as? String { return message }
        }
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return status.reasonPhrase }
        return String(trimmed.prefix(200)).replacingOccurrences(of: "\n", with: " ")
    }

    static func looksTransient(_ message: String) -> Bool {
        let lower = message.lowercased()
        return ["overloaded", "rate_limit", "rate limit", "timeout", "unavailable", "api_error"].contains { lower.contains($0) }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : String(format: "%.1fs", value)
    }
}

/// A failure worth another attempt, with the server's hints on when.
struct RetryableFailure: Error {
    var message: String
    var retryAfterMs: String?
    var retryAfter: String?
}

/// When the last chunk of a body arrived, for the idle timeout.
final class LastChunkClock: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func touch() { last.withLock { $0 = .now } }
    var silence: Duration { ContinuousClock.now - last.withLock { $0 } }
}

/// Whether any reply text has reached the sink (after that, a retry would repeat it).
final class StreamProgress: Sendable {
    private let streamed = Mutex(false)
    func mark() { streamed.withLock { $0 = true } }
    var any: Bool { streamed.withLock { $0 } }
}
