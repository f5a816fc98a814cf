import Foundation
import FuseKit
import TOMLKit

/// `[providers.NAME]`: each provider's kind, endpoint, models, command and timeouts; a literal
/// API key is ignored with a warning, and secret-looking headers are refused.
extension TableReader {
    /// `[providers]`: one table per provider; `echo` is built in and cannot be redefined.
    mutating func readProviders(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for name in table.keys {
            guard SocketName.problem(with: FileName(name)) == nil, name != "echo" else {
                throw error("providers.\(name)", name == "echo" ? "echo is built in and cannot be redefined"
                                                              : "a provider name is 1–64 of A-Z a-z 0-9 . _ -")
            }
            config.providers[name] = try provider(name, try self.table(table, name, path: "providers.\(name)"))
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
            case "models_ttl": provider.modelsTTL = try duration(table, keyPath)
            case _ where ConfigBuilder.secretNames.contains(key):
                var warning = "\(file):\(lines.line(of: keyPath).map(String.init) ?? "?"): \(keyPath): a literal key is ignored; "
                    + "put it in an environment variable and name that with api_key_env"
                if readableByOthers { warning += " (and this file is readable by others: chmod 600 it, and change the key)" }
                warnings.append(warning)
            default:
                throw error(keyPath, "unknown key (known: kind, base_url, api_key_env, models, default_model, command, input, "
                            + "headers, timeout, idle_timeout, max_retries, max_tokens, anthropic_version, models_ttl)")
            }
        }
        if kind == .exec, provider.command.isEmpty { throw error(path, "an exec provider needs 'command'") }
        if kind != .exec, !provider.command.isEmpty { throw error("\(path).command", "only exec providers run a command") }
        if let model = provider.defaultModel, !provider.models.isEmpty, !provider.models.contains(model) {
            throw error("\(path).default_model", "'\(model)' is not in models")
        }
        return provider
    }

    /// A header name that would carry a credential (`Authorization`, `X-Api-Key`, `*token*`).
    static func looksSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower == "authorization" || lower.contains("api-key") || lower.contains("api_key") || lower.contains("token")
    }
}
