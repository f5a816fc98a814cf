import Foundation
import FuseKit
import TOMLKit

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

/// Reads the known tables of one file into a configuration.
struct TableReader {
    let file: String
    let lines: KeyLocator
    let readableByOthers: Bool
    var warnings: [String] = []
    var setDefaultModel = false
    var sawRedisBackend = false
    var pendingRedisURL: String?

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: lines.line(of: key), key: key, message)
    }

    mutating func read(_ root: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for key in root.keys {
            switch key {
            case "models":
                let table = try self.table(root, key)
                for k in table.keys {
                    guard k == "default" else { throw error("models.\(k)", "unknown key (known: default)") }
                    config.defaultModel = try string(table, "models.default")
                    setDefaultModel = true
                }
            case "providers":
                let table = try self.table(root, key)
                for name in table.keys {
                    guard SocketName.problem(with: FileName(name)) == nil, name != "echo" else {
                        throw error("providers.\(name)", name == "echo" ? "echo is built in and cannot be redefined"
                                                                      : "a provider name is 1–64 of A-Z a-z 0-9 . _ -")
                    }
                    config.providers[name] = try provider(name, try self.table(table, name, path: "providers.\(name)"))
                }
            case "sockets":
                let table = try self.table(root, key)
                for name in table.keys {
                    let path = "sockets.\(name)"
                    if name == "unresponsive_after" {
                        config.unresponsiveAfter = try int(table, path, min: 0)
                        continue
                    }
                    config.socketTemplates[name] = try template(name, try self.table(table, name, path: path))
                }
            case "store":
                let table = try self.table(root, key)
                for k in table.keys {
                    switch k {
                    case "path": config.storePath = try string(table, "store.path")
                    case "backend":
                        let backend = try string(table, "store.backend")
                        guard backend == "sqlite" || backend == "redis" else {
                            throw error("store.backend", "'\(backend)' is not 'sqlite' or 'redis'")
                        }
                        sawRedisBackend = backend == "redis"
                        if !sawRedisBackend { config.redisURL = nil }
                    case "url":
                        let url = try string(table, "store.url")
                        guard url.hasPrefix("redis://") else { throw error("store.url", "'\(url)' is not a redis://HOST:PORT/DB URL") }
                        pendingRedisURL = url
                    case "durability":
                        let text = try string(table, "store.durability")
                        guard let value = StoreOptions.Durability(rawValue: text) else {
                            throw error("store.durability", "'\(text)' is not 'process' or 'power'")
                        }
                        config.storeDurability = value
                    default: throw error("store.\(k)", "unknown key (known: path, durability, backend, url)")
                    }
                }
                if sawRedisBackend {
                    guard let url = pendingRedisURL ?? config.redisURL else {
                        throw error("store.backend", "backend = \"redis\" needs url = \"redis://HOST:PORT/DB\"")
                    }
                    config.redisURL = url
                } else if let url = pendingRedisURL, config.redisURL != nil {
                    config.redisURL = url
                }
            case "memory":
                let table = try self.table(root, key)
                for k in table.keys {
                    switch k {
                    case "max_age": config.retention.maxAge = try duration(table, "memory.max_age")
                    case "max_rows": config.retention.maxRows = try int(table, "memory.max_rows", min: 1)
                    default: throw error("memory.\(k)", "unknown key (known: max_age, max_rows)")
                    }
                }
            case "snapshots":
                let table = try self.table(root, key)
                for k in table.keys {
                    switch k {
                    case "interval": config.snapshotInterval = try duration(table, "snapshots.interval")
                    case "keep": config.snapshotKeep = try int(table, "snapshots.keep", min: 0)
                    default: throw error("snapshots.\(k)", "unknown key (known: interval, keep)")
                    }
                }
            case "limits":
                let table = try self.table(root, key)
                for k in table.keys {
                    let path = "limits.\(k)"
                    switch k {
                    case "message_bytes": config.limits.maxMessageBytes = try int(table, path, min: 1)
                    case "queue": config.limits.maxQueue = try int(table, path, min: 1)
                    case "sockets": config.limits.maxSockets = try int(table, path, min: 1)
                    case "prompt_bytes": config.limits.maxPromptBytes = try int(table, path, min: 0)
                    case "ctl_bytes": config.limits.maxControlBytes = try int(table, path, min: 64)
                    case "ctl_line": config.limits.maxControlLine = try int(table, path, min: 16)
                    case "reply_bytes": config.limits.maxReplyBytes = try int(table, path, min: 1)
                    default:
                        throw error(path, "unknown key (known: message_bytes, queue, sockets, prompt_bytes, ctl_bytes, ctl_line, reply_bytes)")
                    }
                }
            default:
                throw error(key, "unknown table (known: models, providers, sockets, store, memory, snapshots, limits)")
            }
        }
    }

    mutating func provider(_ name: String, _ table: TOMLTable) throws(ConfigError) -> ProviderConfig {
        let path = "providers.\(name)"
        guard table["kind"] != nil else { throw error(path, "missing 'kind' (openai, anthropic or exec)") }
        let kindText = try string(table, "\(path).kind")
        guard let kind = ProviderConfig.Kind(rawValue: kindText) else {
            throw error("\(path).kind", "'\(kindText)' is not a provider kind (openai, anthropic, exec)")
        }
        var provider = ProviderConfig(name: name, kind: kind)
        for key in table.keys {
            let keyPath = "\(path).\(key)"
            switch key {
            case "kind": break
            case "base_url":
                let url = try string(table, keyPath)
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw error(keyPath, "'\(url)' is not an http(s) URL")
                }
                provider.baseURL = url
            case "api_key_env":
                let variable = try string(table, keyPath)
                guard !variable.isEmpty, variable.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw error(keyPath, "'\(variable)' is not an environment variable name (the key itself goes in that variable)")
                }
                provider.apiKeyEnv = variable
            case "models": provider.models = try strings(table, keyPath)
            case "default_model": provider.defaultModel = try string(table, keyPath)
            case "command":
                provider.command = try strings(table, keyPath)
                if provider.command.isEmpty { throw error(keyPath, "must name a program") }
            case "input":
                let text = try string(table, keyPath)
                guard let input = ExecProvider.InputFormat(rawValue: text) else { throw error(keyPath, "'\(text)' is not 'text' or 'json'") }
                provider.input = input
            case "headers":
                let headers = try self.table(table, key, path: keyPath)
                for header in headers.keys {
                    if Self.looksSecret(header) { throw error("\(keyPath).\(header)", "secrets do not belong in the config; use api_key_env") }
                    provider.headers[header] = try string(headers, "\(keyPath).\(header)")
                }
            case "timeout": provider.timeout = try duration(table, keyPath)
            case "idle_timeout": provider.idleTimeout = try duration(table, keyPath)
            case "max_retries": provider.maxRetries = try int(table, keyPath, min: 0)
            case "max_tokens": provider.maxTokens = try int(table, keyPath, min: 1)
            case "anthropic_version": provider.anthropicVersion = try string(table, keyPath)
            case _ where ConfigBuilder.secretNames.contains(key):
                var warning = "\(file):\(lines.line(of: keyPath).map(String.init) ?? "?"): \(keyPath): a literal key is ignored; "
                    + "put it in an environment variable and name that with api_key_env"
                if readableByOthers { warning += " (and this file is readable by others: chmod 600 it, and change the key)" }
                warnings.append(warning)
            default:
                throw error(keyPath, "unknown key (known: kind, base_url, api_key_env, models, default_model, command, input, "
                            + "headers, timeout, idle_timeout, max_retries, max_tokens, anthropic_version)")
            }
        }
        if kind == .exec, provider.command.isEmpty { throw error(path, "an exec provider needs 'command'") }
        if kind != .exec, !provider.command.isEmpty { throw error("\(path).command", "only exec providers run a command") }
        if let model = provider.defaultModel, !provider.models.isEmpty, !provider.models.contains(model) {
            throw error("\(path).default_model", "'\(model)' is not in models")
        }
        return provider
    }

    func template(_ name: String, _ table: TOMLTable) throws(ConfigError) -> SocketTemplate {
        var template = SocketTemplate()
        for key in table.keys {
            let keyPath = "sockets.\(name).\(key)"
            switch key {
            case "model": template.model = try string(table, keyPath)
            case "prompt": template.prompt = try string(table, keyPath)
            case "headers": template.headers = try bool(table, keyPath)
            default:
                guard let setting = Setting(rawValue: key.replacingOccurrences(of: "_", with: "-")) else {
                    throw error(keyPath, "unknown key (known: model, prompt, headers, "
                                + Setting.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                }
                let value = table[key]
                let text = value?.string ?? value?.int.map(String.init) ?? value?.double.map { String($0) } ?? ""
                do { try setting.validate(text) } catch { throw self.error(keyPath, error.reason) }
                template.settings[setting] = text
            }
        }
        return template
    }

    static func looksSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower == "authorization" || lower.contains("api-key") || lower.contains("api_key") || lower.contains("token")
    }

    // MARK: typed reads

    func table(_ parent: TOMLTable, _ key: String, path: String? = nil) throws(ConfigError) -> TOMLTable {
        guard let table = parent[key]?.table else { throw error(path ?? key, "must be a table") }
        return table
    }

    func string(_ table: TOMLTable, _ path: String) throws(ConfigError) -> String {
        guard let value = table[String(path.split(separator: ".").last!)]?.string else { throw error(path, "must be a string") }
        return value
    }

    func strings(_ table: TOMLTable, _ path: String) throws(ConfigError) -> [String] {
        guard let array = table[String(path.split(separator: ".").last!)]?.array else { throw error(path, "must be an array of strings") }
        var result: [String] = []
        for element in array {
            guard let text = element.string else { throw error(path, "must be an array of strings") }
            result.append(text)
        }
        return result
    }

    func int(_ table: TOMLTable, _ path: String, min: Int) throws(ConfigError) -> Int {
        guard let value = table[String(path.split(separator: ".").last!)]?.int, value >= min else {
            throw error(path, "must be a whole number, at least \(min)")
        }
        return value
    }

    func bool(_ table: TOMLTable, _ path: String) throws(ConfigError) -> Bool {
        guard let value = table[String(path.split(separator: ".").last!)]?.bool else { throw error(path, "must be true or false") }
        return value
    }

    /// Seconds: a number, or a string such as `"90s"`, `"15m"`, `"1h"`, `"30d"`.
    func duration(_ table: TOMLTable, _ path: String) throws(ConfigError) -> Double {
        let value = table[String(path.split(separator: ".").last!)]
        if let number = value?.double ?? value?.int.map(Double.init), number > 0 { return number }
        if let text = value?.string, let seconds = RetentionPolicy.parseDuration(text) { return seconds }
        throw error(path, "must be a duration: seconds, or a string like \"90s\", \"15m\", \"1h\", \"30d\"")
    }
}
