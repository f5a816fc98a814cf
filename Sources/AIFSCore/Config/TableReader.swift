import Foundation
import TOMLKit

/// Reads the known tables of one file into a configuration. This file holds the dispatch on
/// the top-level tables, `[models]`, and the typed reads every table uses; the other tables are
/// read in `TableReader+Providers.swift`, `TableReader+Sockets.swift`, `TableReader+Store.swift`
/// (`[store]`, `[memory]`, `[snapshots]`), `TableReader+Limits.swift`, `TableReader+Tools.swift`
/// (`[security]`, `[tools]`) and `TableReader+Metrics.swift` (`[metrics]`).
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
            case "models": try readModels(self.table(root, key), into: &config)
            case "providers": try readProviders(self.table(root, key), into: &config)
            case "sockets": try readSockets(self.table(root, key), into: &config)
            case "store": try readStore(self.table(root, key), into: &config)
            case "memory": try readMemory(self.table(root, key), into: &config)
            case "snapshots": try readSnapshots(self.table(root, key), into: &config)
            case "events": try readEvents(self.table(root, key), into: &config)
            case "limits": try readLimits(self.table(root, key), into: &config)
            case "security": try readSecurity(self.table(root, key), into: &config)
            case "tools": try readTools(self.table(root, key), into: &config)
            case "metrics": try readMetrics(self.table(root, key), into: &config)
            case "agents": try readAgents(self.table(root, key), into: &config)
            default:
                throw error(key, "unknown table (known: models, providers, sockets, store, memory, snapshots, events, limits, security, "
                            + "tools, metrics, agents)")
            }
        }
    }

    /// `[models]`: the default model.
    mutating func readModels(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for k in table.keys {
            guard k == "default" else { throw error("models.\(k)", "unknown key (known: default)") }
            config.defaultModel = try string(table, "models.default")
            setDefaultModel = true
        }
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
