/// The models the daemon can use (`/ai/models`) and the provider behind each.
///
/// A model id is `PROVIDER/MODEL`; a bare `PROVIDER` means that provider's default model
/// (out of the box the default is `echo`). Only ids listed here are accepted by `model`.
public struct ModelCatalog: Sendable {
    public private(set) var modelIDs: [String]
    public private(set) var defaultModel: String
    private var providers: [String: any Provider]
    /// What a bare `NAME` asks provider `NAME` for (its `default_model`).
    private var providerDefaults: [String: String]

    public init(modelIDs: [String], defaultModel: String, providers: [String: any Provider],
                providerDefaults: [String: String] = [:]) {
        self.modelIDs = modelIDs
        self.defaultModel = defaultModel
        self.providers = providers
        self.providerDefaults = providerDefaults
    }

    /// The provider registered under `name`.
    public func provider(named name: String) -> (any Provider)? { providers[name] }

    /// The built-in catalog: `echo` (default) and `echo/slow`.
    public static func builtIn(echo: EchoProvider = EchoProvider()) -> ModelCatalog {
        ModelCatalog(modelIDs: ["echo", "echo/slow"], defaultModel: "echo", providers: ["echo": echo])
    }

    public func contains(_ id: String) -> Bool { modelIDs.contains(id) }

    /// The provider and the model name to ask it for.
    public func resolve(_ id: String) -> (provider: any Provider, model: String)? {
        let parts = id.split(separator: "/", maxSplits: 1)
        guard let name = parts.first, let provider = providers[String(name)] else { return nil }
        return (provider, parts.count > 1 ? String(parts[1]) : providerDefaults[String(name)] ?? "")
    }

    /// Provider names, for `/ai/ctl`.
    public var providerNames: [String] { providers.keys.sorted() }
}
