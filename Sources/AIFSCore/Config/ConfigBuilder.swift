import Foundation
import TOMLKit

/// Folds layers into a ``Configuration``, checking each key where it is read.
struct ConfigBuilder {
    private(set) var configuration = Configuration()
    private(set) var warnings: [String] = []
    /// Where `[models] default` was set, to report it if it names no model.
    private var defaultModelOrigin: (file: String?, line: Int?) = (nil, nil)

    static let secretNames: Set<String> = ["api_key", "apikey", "key", "token", "secret", "password"]

    mutating func apply(file: String) throws(ConfigError) {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ConfigError(file: file, "cannot read: \(error.localizedDescription)")
        }
        var st = stat()
        let readable = stat(file, &st) == 0 && st.st_mode & 0o044 != 0
        if stat(file, &st) == 0, st.st_mode & 0o022 != 0 {
            warnings.append("\(file): writable by others; anyone who can write it can change which programs aifs runs")
        }
        try apply(text: text, file: file, readableByOthers: readable)
    }

    mutating func apply(text: String, file: String, readableByOthers: Bool) throws(ConfigError) {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: file, line: error.source.begin.line, "TOML syntax: \(error.description)")
        } catch {
            throw ConfigError(file: file, "TOML syntax: \(error)")
        }
        let lines = KeyLocator(text: text)
        var reader = TableReader(file: file, lines: lines, readableByOthers: readableByOthers)
        try reader.read(table, into: &configuration)
        warnings += reader.warnings
        if reader.setDefaultModel { defaultModelOrigin = (file, lines.line(of: "models.default")) }
    }

    mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigError) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let model = value("AIFS_DEFAULT_MODEL") {
            configuration.defaultModel = model
            defaultModelOrigin = ("AIFS_DEFAULT_MODEL", nil)
        }
        if let path = value("AIFS_STORE_PATH") { configuration.storePath = path }
        if let text = value("AIFS_STORE_DURABILITY") {
            guard let durability = StoreOptions.Durability(rawValue: text) else {
                throw ConfigError(key: "AIFS_STORE_DURABILITY", "'\(text)' is not 'process' or 'power'")
            }
            configuration.storeDurability = durability
        }
        if let text = value("AIFS_MEMORY_MAX_AGE") {
            guard let seconds = RetentionPolicy.parseDuration(text) else {
                throw ConfigError(key: "AIFS_MEMORY_MAX_AGE", "'\(text)' is not a duration (90d, 12h, 3600)")
            }
            configuration.retention.maxAge = seconds
        }
        if let text = value("AIFS_MEMORY_MAX_ROWS") {
            guard let rows = Int(text), rows > 0 else { throw ConfigError(key: "AIFS_MEMORY_MAX_ROWS", "'\(text)' is not a positive number") }
            configuration.retention.maxRows = rows
        }
        if let text = value("AIFS_SNAPSHOTS_INTERVAL") {
            guard let seconds = RetentionPolicy.parseDuration(text) else {
                throw ConfigError(key: "AIFS_SNAPSHOTS_INTERVAL", "'\(text)' is not a duration")
            }
            configuration.snapshotInterval = seconds
        }
        if let text = value("AIFS_SNAPSHOTS_KEEP") {
            guard let keep = Int(text), keep >= 0 else { throw ConfigError(key: "AIFS_SNAPSHOTS_KEEP", "'\(text)' is not a number") }
            configuration.snapshotKeep = keep
        }
    }

    /// Checks what only the whole can tell (the default, template and compaction models exist)
    /// and returns it.
    func finish() throws(ConfigError) -> Configuration {
        let ids = configuration.modelIDs
        guard configuration.accepts(configuration.defaultModel) else {
            throw ConfigError(file: defaultModelOrigin.file, line: defaultModelOrigin.line, key: "models.default",
                              "'\(configuration.defaultModel)' is not a configured model (known: \(ids.joined(separator: ", ")))")
        }
        for (name, template) in configuration.socketTemplates {
            if let model = template.model, !configuration.accepts(model) {
                throw ConfigError(key: "sockets.\(name).model", "'\(model)' is not a configured model (known: \(ids.joined(separator: ", ")))")
            }
        }
        if !configuration.agents.isEmpty, configuration.providers["agent"] != nil {
            throw ConfigError(key: "providers.agent", "the name 'agent' is taken by [agents.NAME] (their models are agent/NAME)")
        }
        for (name, agent) in configuration.agents {
            if let model = agent.model, !configuration.accepts(model) || model.hasPrefix("agent/") {
                throw ConfigError(key: "agents.\(name).model", "'\(model)' is not a configured model (known: \(ids.joined(separator: ", ")))")
            }
        }
        if let model = configuration.compactModel, !configuration.accepts(model) {
            throw ConfigError(key: "sockets.compact_model", "'\(model)' is not a configured model (known: \(ids.joined(separator: ", ")))")
        }
        return configuration
    }
}
