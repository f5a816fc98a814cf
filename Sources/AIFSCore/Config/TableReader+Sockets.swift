import Foundation
import TOMLKit

/// `[sockets]`: `unresponsive_after`, `context_tokens`, `compact_keep`, `compact_model` and one template per socket name (model, prompt, headers
/// and the settings a socket's `ctl` takes).
extension TableReader {
    /// `[sockets]`: `unresponsive_after`, `context_tokens`, and a template for every other key.
    mutating func readSockets(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for name in table.keys {
            let path = "sockets.\(name)"
            if name == "unresponsive_after" {
                config.unresponsiveAfter = try int(table, path, min: 0)
                continue
            }
            if name == "context_tokens" {
                let tokens = try int(table, path, min: 0)
                guard tokens <= 10_000_000 else { throw error(path, "must be a whole number, 0 to 10,000,000") }
                config.contextTokens = tokens
                continue
            }
            if name == "compact_keep" {
                let keep = try int(table, path, min: 1)
                guard keep <= 10_000 else { throw error(path, "must be a whole number, 1 to 10,000") }
                config.compactKeep = keep
                continue
            }
            if name == "compact_model" {
                config.compactModel = try string(table, path)
                continue
            }
            config.socketTemplates[name] = try template(name, try self.table(table, name, path: path))
        }
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
}
