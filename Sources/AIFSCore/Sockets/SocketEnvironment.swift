import Synchronization

/// What every socket shares: the store, the model catalog (re-read on `reload`), the limits and
/// the daemon-wide counters.
public final class SocketEnvironment: Sendable {
    public let store: any SocketStore
    public let limits: Limits
    public let counters = DaemonCounters()
    private let catalogBox: Mutex<ModelCatalog>

    public init(store: any SocketStore, catalog: ModelCatalog, limits: Limits = Limits()) {
        self.store = store
        self.limits = limits
        self.catalogBox = Mutex(catalog)
    }

    public func catalog() -> ModelCatalog { catalogBox.withLock { $0 } }
    public func replaceCatalog(_ catalog: ModelCatalog) { catalogBox.withLock { $0 = catalog } }
}

/// Configurable limits, each with the errno it fails with.
public struct Limits: Sendable {
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
    /// Failed requests in a row after which a socket becomes `unresponsive` (0: never).
    public var unresponsiveAfter = 5
    public init() {}
}

/// Daemon-wide totals for `/ai/ctl`.
public final class DaemonCounters: Sendable {
    private struct Values {
        var inFlight = 0
        var requests = 0
        var messages = 0
    }
    private let values = Mutex(Values())

    func requestStarted() { values.withLock { $0.inFlight += 1; $0.requests += 1 } }
    func requestEnded() { values.withLock { $0.inFlight -= 1 } }
    func messageQueued() { values.withLock { $0.messages += 1 } }

    public var inFlight: Int { values.withLock { $0.inFlight } }
    public var requests: Int { values.withLock { $0.requests } }
    public var messages: Int { values.withLock { $0.messages } }
}
