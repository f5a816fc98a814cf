import Foundation

extension ModelCatalog {
    /// The catalog a configuration describes: the built-in echo models plus one provider per
    /// `[providers.NAME]`, with API keys read from the environment variables they name.
    public static func from(_ configuration: Configuration, loader: ConfigLoader = ConfigLoader()) -> ModelCatalog {
        var providers: [String: any Provider] = ["echo": EchoProvider()]
        var defaults: [String: String] = [:]
        for (name, config) in configuration.providers {
            providers[name] = makeProvider(config, loader: loader)
            if let bare = config.bareModel { defaults[name] = bare }
        }
        // `agent/NAME`: the socket's own sandboxed program answers (``AgentProvider``).
        if !configuration.agents.isEmpty { providers["agent"] = AgentProvider() }
        return ModelCatalog(modelIDs: configuration.modelIDs, defaultModel: configuration.defaultModel,
                            providers: providers, providerDefaults: defaults, openProviders: configuration.openProviders)
    }

    static func makeProvider(_ config: ProviderConfig, loader: ConfigLoader) -> any Provider {
        switch config.kind {
        case .exec:
            return ExecProvider(command: config.command, inputFormat: config.input)
        case .openai, .anthropic:
            var settings = HTTPModelProvider.Settings(name: config.name, dialect: config.kind == .openai ? .openai : .anthropic,
                                                      baseURL: config.baseURL, apiKey: loader.apiKey(for: config))
            settings.headers = config.headers
            settings.timeout = config.timeout
            settings.idleTimeout = config.idleTimeout
            settings.retry = RetryPolicy(maxAttempts: config.maxRetries + 1)
            settings.maxTokens = config.maxTokens
            settings.anthropicVersion = config.anthropicVersion
            settings.listsModels = config.listsModels
            settings.modelsTTL = config.modelsTTL
            if let variable = config.apiKeyEnv, settings.apiKey == nil {
                settings.missingKey = "environment variable \(variable) (api_key_env) is not set"
            }
            return HTTPModelProvider(settings: settings)
        }
    }
}
