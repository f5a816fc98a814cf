import Foundation

/// The configuration read, with the files it came from and warnings for the log.
public struct LoadedConfiguration: Sendable {
    public var configuration: Configuration
    public var files: [String]
    public var warnings: [String]
}

/// Reads the configuration layers; later layers win, key by key:
/// built-in defaults → `/etc/aifs/config.toml` → the user file (`$XDG_CONFIG_HOME/aifs/config.toml`,
/// or the file given with `--config`, which takes its place) → `AIFS_*` environment variables →
/// other command-line flags (applied by the caller).
///
/// Every key is checked: an unknown key, a wrong type or a bad value is a ``ConfigError``
/// naming the file, the line and the dotted key. API keys are read only from the environment
/// variable a provider names with `api_key_env`; a literal key in a file is ignored with a
/// warning (louder if the file is readable by others).
///
/// The layers are folded by ``ConfigBuilder``; one file's tables are read by ``TableReader``
/// (`TableReader*.swift`), which finds lines for its errors with ``KeyLocator``.
public struct ConfigLoader {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The user file's default place.
    public var userFile: String {
        var base = environment["XDG_CONFIG_HOME"] ?? ""
        if base.isEmpty || !base.hasPrefix("/") { base = (environment["HOME"] ?? NSHomeDirectory()) + "/.config" }
        return base + "/aifs/config.toml"
    }

    public func load(explicitFile: String? = nil, systemFile: String = "/etc/aifs/config.toml") throws(ConfigError) -> LoadedConfiguration {
        var builder = ConfigBuilder()
        var files: [String] = []
        var layers = [systemFile]
        if let explicitFile {
            guard FileManager.default.fileExists(atPath: explicitFile) else { throw ConfigError(file: explicitFile, "no such file") }
            layers.append(explicitFile)
        } else {
            layers.append(userFile)
        }
        for file in layers where FileManager.default.fileExists(atPath: file) {
            try builder.apply(file: file)
            files.append(file)
        }
        try builder.applyEnvironment(environment)
        let configuration = try builder.finish()
        return LoadedConfiguration(configuration: configuration, files: files, warnings: builder.warnings)
    }

    /// Parses one TOML text as if it were the only layer (for tests and `aifs doctor`).
    public static func parse(_ text: String, file: String = "config.toml") throws(ConfigError) -> LoadedConfiguration {
        var builder = ConfigBuilder()
        try builder.apply(text: text, file: file, readableByOthers: false)
        return LoadedConfiguration(configuration: try builder.finish(), files: [file], warnings: builder.warnings)
    }

    /// The API key of a provider, from the environment variable it names.
    public func apiKey(for provider: ProviderConfig) -> String? {
        guard let name = provider.apiKeyEnv, let value = environment[name], !value.isEmpty else { return nil }
        return value
    }
}
