import Synchronization

/// What every socket shares: the store, the model catalog (re-read on `reload`), the limits and
/// the daemon-wide counters.
public final class SocketEnvironment: Sendable {
    public let store: any SocketStore
    public let counters = DaemonCounters()
    /// `/ai/events` (``EventLog``), bounded by `[events]`.
    public let events = EventLog()
    /// Where deadlines are scheduled (team-chat round timeouts): real time, or a test's own.
    public let timers: any TimerScheduler
    /// The pipeline graph of `wire NAME`.
    public let wiring = Wiring()
    private let logBox = Mutex<any ChangeLog>(LocalLog())
    /// Where every change is posted (``ChangeLog``): by default a ``LocalLog``; the daemon
    /// puts the one its configuration asks for in force (``makeChangeLog(redisURL:position:)``).
    public var log: any ChangeLog { logBox.withLock { $0 } }
    /// Set before the registry is made (it attaches its applier to the log in force).
    public func use(log: any ChangeLog) {
        logBox.withLock { $0 = log }
        events.daemon = log.id
    }
    /// At most `[limits] waiting_per_uid` requests of one uid wait for the store at once.
    public let admission: UIDAdmission
    /// `chat` descriptors waiting for their message to be applied.
    let chats = ChatRoutes()
    private let catalogBox: Mutex<ModelCatalog>
    private let limitsBox: Mutex<Limits>
    private let templatesBox = Mutex<[String: SocketTemplate]>([:])
    private let reloaderBox = Mutex<(@Sendable () throws -> LoadedConfiguration)?>(nil)
    private let configStatusBox = Mutex("built-in defaults")
    private let toolsBox = Mutex(ToolSetup())
    /// Finds the other sockets by name (for the `ask` tool); set by the registry.
    let directory = SocketDirectory()
    /// Which socket waits on an ask to which (the `ask` tool refuses cycles).
    let asks = AskGraph()
    /// The sandboxed programs of agent sockets (`[agents.NAME]`).
    public let agents = AgentSupervisor()

    /// The tools, security settings and policy in force.
    public var toolSetup: ToolSetup { toolsBox.withLock { $0 } }
    public func use(tools: ToolSetup) { toolsBox.withLock { $0 = tools } }

    public init(store: any SocketStore, catalog: ModelCatalog, limits: Limits = Limits(),
                timers: any TimerScheduler = DispatchTimers()) {
        self.store = store
        self.timers = timers
        self.limitsBox = Mutex(limits)
        self.admission = UIDAdmission(limit: limits.maxWaitingPerUID)
        self.catalogBox = Mutex(catalog)
        catalog.whenListed {}  // the servers' model listings are fetched from the start
    }

    public var limits: Limits { limitsBox.withLock { $0 } }

    /// The context limit of a socket that sets no `context-tokens`: the window its provider
    /// reports for `model`, else `[sockets] context_tokens`; nil for none.
    func defaultContextTokens(model: String) -> Int? {
        if let (provider, name) = catalog().resolve(model), let window = provider.contextTokens(model: name) { return window }
        let configured = limits.contextTokens
        return configured > 0 ? configured : nil
    }
    public func catalog() -> ModelCatalog { catalogBox.withLock { $0 } }

    /// The `[sockets.NAME]` template for a new socket, if any.
    public func template(named name: String) -> SocketTemplate? { templatesBox.withLock { $0[name] } }

    /// Puts a configuration in force: models, templates, the unresponsive threshold.
    public func apply(_ loaded: LoadedConfiguration, catalog: ModelCatalog) {
        catalogBox.withLock { $0 = catalog }
        catalog.whenListed {}
        templatesBox.withLock { $0 = loaded.configuration.socketTemplates }
        agents.use(loaded.configuration.agents)
        limitsBox.withLock {
            $0 = loaded.configuration.limits
            $0.unresponsiveAfter = loaded.configuration.unresponsiveAfter
            $0.contextTokens = loaded.configuration.contextTokens
            $0.compactKeep = loaded.configuration.compactKeep
            $0.compactModel = loaded.configuration.compactModel
            $0.snapshotInterval = loaded.configuration.snapshotInterval
            $0.snapshotKeep = loaded.configuration.snapshotKeep
        }
        admission.limit = loaded.configuration.limits.maxWaitingPerUID
        events.retention = loaded.configuration.events
        use(tools: ToolSetup(settings: loaded.configuration.tools, security: loaded.configuration.security))
        let files = loaded.files.isEmpty ? "built-in defaults" : loaded.files.joined(separator: ", ")
        configStatusBox.withLock { $0 = files }
    }

    /// How `reload` re-reads the configuration (set by the daemon).
    public func setReloader(_ reloader: @escaping @Sendable () throws -> LoadedConfiguration) {
        reloaderBox.withLock { $0 = reloader }
    }

    /// Re-reads the configuration; on failure the old one stays and the error says why.
    public func reload() throws(SocketError) {
        guard let reloader = reloaderBox.withLock({ $0 }) else { throw SocketError(.ENOTSUP, "this daemon has no configuration to reload") }
        do {
            let loaded = try reloader()
            apply(loaded, catalog: .from(loaded.configuration))
            events.record(AIEvent("reload", uid: events.causeUID, [("files", .string(configStatus))]))
        } catch {
            configStatusBox.withLock { $0 = "reload failed, previous configuration kept: \(error)" }
            throw SocketError(.EINVAL, "\(error)")
        }
    }

    /// The files in force, or why the last reload failed (for `/ai/ctl`).
    public var configStatus: String { configStatusBox.withLock { $0 } }
}

/// Configurable limits (`[limits]` in the configuration), each with the errno it fails with.
public struct Limits: Sendable, Equatable {
    /// Largest message (`EFBIG`).
    public var maxMessageBytes = 1 << 20
    /// Unanswered messages per socket (`EAGAIN`).
    public var maxQueue = 1_000
    /// Sockets per daemon (`ENOSPC`).
    public var maxSockets = 10_000
    /// Largest system prompt (`EFBIG`).
    public var maxPromptBytes = 1 << 20
    /// Largest write to a `ctl` in one open (`EINVAL`).
    public var maxControlBytes = 64 * 1024
    /// Longest `ctl` line (`EINVAL`).
    public var maxControlLine = 4096
    /// Longest reply kept: a reply over it is cut there, the request ends, and `error` says so.
    public var maxReplyBytes = 1 << 20
    /// Requests of one uid waiting for the store at once; more wait their turn (``UIDAdmission``).
    public var maxWaitingPerUID = 64
    /// Failed requests in a row after which a socket becomes `unresponsive` (0: never).
    public var unresponsiveAfter = 5
    /// The `context-tokens` of a socket that sets none, when its provider reports no context
    /// window (`[sockets] context_tokens`; 0: no limit).
    public var contextTokens = Limits.standardContextTokens
    /// The default of ``contextTokens``: 131,072 tokens (512 KiB of text at 4 bytes a token),
    /// the context window of the common hosted models.
    public static let standardContextTokens = 131_072
    /// Merged turns a compaction keeps verbatim, the newest (`[sockets] compact_keep`).
    public var compactKeep = 4
    /// The model that writes compaction summaries (`[sockets] compact_model`); nil: the socket's own.
    public var compactModel: String?
    /// Seconds between automatic snapshots (`[snapshots] interval`).
    public var snapshotInterval: Double = 3600
    /// Automatic snapshots kept (`[snapshots] keep`); manual ones never expire.
    public var snapshotKeep = 24
    public init() {}
}

/// The registry as the sockets see it: a weak way back to find another socket by name.
final class SocketDirectory: @unchecked Sendable {
    private let lock = Mutex<(@Sendable (String) -> Socket?)?>(nil)
    func set(_ find: @escaping @Sendable (String) -> Socket?) { lock.withLock { $0 = find } }
    func socket(named name: String) -> Socket? { lock.withLock { $0 }?(name) }
}
