import Synchronization

/// The models the daemon can use (`/ai/models`) and the provider behind each.
///
/// A model id is `PROVIDER/MODEL`; a bare `PROVIDER` means that provider's default model
/// (out of the box the default is `echo`). `model` accepts the configured ids and, for an HTTP
/// provider configured without a `models` list (an *open* provider), any `PROVIDER/NAME`;
/// `/ai/models` adds what the open providers' servers list (``ModelListing``).
public struct ModelCatalog: Sendable {
    /// The configured ids.
    public private(set) var modelIDs: [String]
    public private(set) var defaultModel: String
    private var providers: [String: any Provider]
    /// What a bare `NAME` asks provider `NAME` for (its `default_model`).
    private var providerDefaults: [String: String]
    /// The providers that take any model name.
    private var openProviders: Set<String>

    public init(modelIDs: [String], defaultModel: String, providers: [String: any Provider],
                providerDefaults: [String: String] = [:], openProviders: Set<String> = []) {
        self.modelIDs = modelIDs
        self.defaultModel = defaultModel
        self.providers = providers
        self.providerDefaults = providerDefaults
        self.openProviders = openProviders
    }

    /// A model name a server may be asked for: 1–256 bytes, no whitespace or control
    /// characters (`gpt-4o`, `llama3:8b`, `meta-llama/Llama-3-8B`).
    public static func isModelName(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && name.utf8.count <= 256 && !name.unicodeScalars.contains {
            $0.properties.isWhitespace || $0.properties.generalCategory == .control
        }
    }

    /// The provider registered under `name`.
    public func provider(named name: String) -> (any Provider)? { providers[name] }

    /// The built-in catalog: `echo` (default) and `echo/slow`.
    public static func builtIn(echo: EchoProvider = EchoProvider()) -> ModelCatalog {
        ModelCatalog(modelIDs: ["echo", "echo/slow"], defaultModel: "echo", providers: ["echo": echo])
    }

    /// Whether `model` accepts `id`.
    public func contains(_ id: String) -> Bool {
        if modelIDs.contains(id) { return true }
        let parts = id.split(separator: "/", maxSplits: 1)
        return parts.count == 2 && openProviders.contains(String(parts[0])) && Self.isModelName(parts[1])
    }

    /// What `/ai/models` lists: the configured ids, then what each open provider's server
    /// listed, as `PROVIDER/NAME`.
    public var listedIDs: [String] {
        var ids = modelIDs
        var seen = Set(ids)
        for name in openProviders.sorted() {
            for model in providers[name]?.modelListing?.models?.ids ?? [] where seen.insert("\(name)/\(model)").inserted {
                ids.append("\(name)/\(model)")
            }
        }
        return ids
    }

    /// Calls `body` once every open provider's listing is current (see ``ModelListing``).
    public func whenListed(_ body: @escaping @Sendable () -> Void) {
        let listings = openProviders.compactMap { providers[$0]?.modelListing }
        guard !listings.isEmpty else { return body() }
        let remaining = Countdown(listings.count)
        for listing in listings {
            listing.whenCurrent { if remaining.done() { body() } }
        }
    }

    /// Each provider's line in `/ai/ctl`: `ok`, or for an open provider how many models its
    /// server lists, or why it cannot list them.
    public var providerStatus: [(name: String, status: String)] {
        providerNames.map { name in
            guard openProviders.contains(name), let listing = providers[name]?.modelListing else { return (name, "ok") }
            if let problem = listing.problem { return (name, "cannot list models: \(problem)") }
            guard let models = listing.models else { return (name, "ok (models not listed yet)") }
            return (name, "ok, \(models.ids.count) models listed")
        }
    }

    /// The provider and the model name to ask it for.
    public func resolve(_ id: String) -> (provider: any Provider, model: String)? {
        let parts = id.split(separator: "/", maxSplits: 1)
        guard let name = parts.first, let provider = providers[String(name)] else { return nil }
        return (provider, parts.count > 1 ? String(parts[1]) : providerDefaults[String(name)] ?? "")
    }

    /// Provider names, for `/ai/ctl`.
    public var providerNames: [String] { providers.keys.sorted() }
}

/// Counts callbacks down to the last.
private final class Countdown: Sendable {
    private let remaining: Mutex<Int>
    init(_ count: Int) { remaining = Mutex(count) }
    /// True for the call that brings the count to zero.
    func done() -> Bool { remaining.withLock { $0 -= 1; return $0 == 0 } }
}
