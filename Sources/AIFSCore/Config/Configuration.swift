import Foundation

/// The daemon's configuration, as read from the TOML layers (see ``ConfigLoader``) and
/// documented key by key in `docs/configuration.md` and `examples/config.toml`.
public struct Configuration: Sendable, Equatable {
    /// `[models] default`: the model of a new socket.
    public var defaultModel = "echo"
    /// `[providers.NAME]`. `echo` is built in.
    public var providers: [String: ProviderConfig] = [:]
    /// `[sockets.NAME]`: applied by `mkdir /ai/NAME`.
    public var socketTemplates: [String: SocketTemplate] = [:]
    /// `[sockets] unresponsive_after`: failed requests in a row before a socket is `unresponsive`.
    public var unresponsiveAfter = 5
    /// `[sockets] context_tokens`: the `context-tokens` of a socket that sets none, when its
    /// provider reports no context window (0: no limit).
    public var contextTokens = Limits.standardContextTokens
    /// `[sockets] compact_keep` and `compact_model` (see ``Limits``).
    public var compactKeep = 4
    public var compactModel: String?
    /// `[store] path`, `[store] durability`.
    public var storePath: String?
    public var storeDurability: StoreOptions.Durability = .process
    /// `[store] journal_delay`: idle seconds before committed batches are written into the tables.
    public var journalDelay = StoreOptions.standardJournalDelay
    /// `[memory] max_age`, `[memory] max_rows`.
    public var retention = RetentionPolicy()
    /// `[events] max_age`, `[events] max_rows`: what `/ai/events` keeps.
    public var events = EventRetention()
    /// `[memory] index_delay`: idle seconds before committed memories are indexed for search.
    public var memoryIndexDelay = StoreOptions.standardIndexDelay
    /// `[snapshots] interval`, `[snapshots] keep`: seconds between automatic snapshots, and how
    /// many automatic ones are kept.
    public var snapshotInterval: Double = 3600
    public var snapshotKeep = 24
    /// `[store] backend = "redis"` with `url = "redis://HOST:PORT/DB"`: one namespace shared by
    /// every daemon on that Redis (see docs/distributed.md); nil for the embedded SQLite store.
    public var redisURL: String?
    /// `[store] member_timeout`: how long a daemon of a Redis namespace may be silent.
    public var cluster = ClusterSettings()
    /// `[limits]`: message, queue, socket, prompt, ctl and reply limits.
    public var limits = Limits()
    /// `[security]`: the mode and patterns tool calls are judged by (see ``ToolPolicy``).
    public var security = SecurityConfig()
    /// `[agents.NAME]`: sandboxed agent programs (see ``AgentConfig``); their sockets' model is `agent/NAME`.
    public var agents: [String: AgentConfig] = [:]
    /// `[tools]`: the tools' default limits and the user tools, `[tools.NAME]` (see ``ToolCatalog``).
    public var tools = ToolSettings()
    /// `[metrics] listen`: where the HTTP listener serves `/ai/metrics` at `GET /metrics`; nil
    /// (the default) for none. Read when the daemon starts (a `reload` does not move it).
    public var metricsListen: ListenAddress?

    public init() {}

    /// The ids `/ai/models` lists and `model` accepts: `echo`, `echo/slow`, then per provider
    /// (by name) a bare `NAME` when it has a default model (or exactly one, or none listed) and
    /// `NAME/MODEL` for each listed model.
    public var modelIDs: [String] {
        var ids = ["echo", "echo/slow"]
        for name in providers.keys.sorted() {
            let provider = providers[name]!
            if provider.bareModel != nil { ids.append(name) }
            ids += provider.models.map { "\(name)/\($0)" }
        }
        ids += agents.keys.sorted().map { "agent/\($0)" }
        return ids
    }

    /// The providers that take any model name: HTTP providers without a `models` list (their
    /// servers list what they have; see `ModelListing`).
    public var openProviders: Set<String> {
        Set(providers.filter { $0.value.listsModels }.keys)
    }

    /// Whether `model` accepts `id`: a configured id, or any `NAME/MODEL` of an open provider.
    public func accepts(_ id: String) -> Bool {
        ModelCatalog(modelIDs: modelIDs, defaultModel: defaultModel, providers: [:], openProviders: openProviders).contains(id)
    }
}

/// One `[providers.NAME]` table.
public struct ProviderConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case openai, anthropic, exec }

    public var name: String
    public var kind: Kind
    /// `base_url`: OpenAI convention (`…/v1`, the client adds `/chat/completions`) or Anthropic's
    /// (`https://api.anthropic.com`, the client adds `/v1/messages`).
    public var baseURL: String
    /// `api_key_env`: the environment variable holding the key (never the key itself).
    public var apiKeyEnv: String?
    public var models: [String] = []
    public var defaultModel: String?
    /// `command` (exec): the program and its arguments; `{model}` is replaced.
    public var command: [String] = []
    /// `input` (exec): `text` or `json`.
    public var input: ExecProvider.InputFormat = .text
    /// `headers`: extra HTTP headers (not secrets).
    public var headers: [String: String] = [:]
    public var timeout: Double = 300
    public var idleTimeout: Double = 60
    /// `max_retries`: attempts after the first.
    public var maxRetries = 3
    /// `max_tokens`: the reply limit sent to Anthropic when a socket sets none.
    public var maxTokens = 1024
    public var anthropicVersion = "2023-06-01"
    /// `models_ttl`: how long the server's model listing is used before it is fetched again.
    public var modelsTTL: Double = 600

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
        self.baseURL = kind == .anthropic ? "https://api.anthropic.com" : "https://api.openai.com/v1"
    }

    /// Whether the server is asked which models it has: an HTTP provider without `models`.
    public var listsModels: Bool { kind != .exec && models.isEmpty }

    /// What a bare `NAME` asks for, or nil if a bare `NAME` is not a model id.
    public var bareModel: String? {
        if let defaultModel { return defaultModel }
        if models.count == 1 { return models[0] }
        if models.isEmpty { return "" }
        return nil
    }
}

/// One `[sockets.NAME]` template.
public struct SocketTemplate: Sendable, Equatable {
    public var model: String?
    public var prompt: String?
    public var headers: Bool?
    public var settings: [Setting: String] = [:]
    public init() {}
}

/// A configuration problem, naming the file, line and key where known.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String?
    public var line: Int?
    public var key: String?
    public var message: String

    public init(file: String? = nil, line: Int? = nil, key: String? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: KEY: message`, leaving out what is unknown.
    public var description: String {
        var parts: [String] = []
        if let file { parts.append(line.map { "\(file):\($0)" } ?? file) }
        if let key { parts.append(key) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
