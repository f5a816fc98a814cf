import Foundation

/// One `[agents.NAME]` table: a program the daemon runs in a bubblewrap sandbox as the socket's
/// owner, for every socket whose model is `agent/NAME` (`mkdir /ai/NAME` gives a new socket
/// that model). See `docs/agents.md`.
public struct AgentConfig: Sendable, Equatable {
    public var name: String
    /// `command`: the program and its arguments, as seen inside the sandbox.
    public var command: [String]
    /// `model`: what `brain` asks (a configured model id, not an agent); nil: `brain` refuses.
    public var model: String?
    /// `description`, `capabilities`: what `/ai/directory` says of it (a socket's own
    /// `set description`/`set capabilities` win).
    public var description = ""
    public var capabilities: [String] = []
    /// `network_allow`: what `network` may reach (``NetworkRule``); empty: nothing.
    public var networkAllow: [NetworkRule] = []
    /// `network_rate`: at most this many requests per `networkPeriod` seconds (burst included).
    public var networkRate = 10
    public var networkPeriod: Double = 1
    /// `network_max_bytes`: largest request body and largest response body kept.
    public var networkMaxBytes = 1 << 20
    /// `network_timeout`: the longest a request may take, seconds (a request's own is capped by it).
    public var networkTimeout: Double = 30
    /// `sockets`: other sockets bound into its `/ai` (by name, as they exist when it starts).
    public var sockets: [String] = []
    /// `ro_bind`: host paths bound read-only at the same place (its program, its data).
    public var readOnlyPaths: [String] = []
    /// `environment`: extra variables (never secrets: they are visible in the configuration).
    public var environment: [String: String] = [:]

    public init(name: String, command: [String]) {
        self.name = name
        self.command = command
    }

    /// The model id of its sockets.
    public var modelID: String { "agent/\(name)" }
}

/// One `network_allow` entry: `[METHODS ]SCHEME://HOST[:PORT]`, such as `"https://api.example.com"`
/// (any method), `"GET,HEAD http://127.0.0.1:8080"`, `"http://*.example.org"` (a host and its
/// subdomains) or `"*"` (everything over http and https).
public struct NetworkRule: Sendable, Equatable, CustomStringConvertible {
    public var methods: Set<String>
    public var scheme: String
    public var host: String
    public var port: Int?
    public let description: String

    /// Parses one entry; nil when it does not have the shape above.
    public init?(_ text: String) {
        description = text
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        methods = parts.count == 2 ? Set(parts[0].split(separator: ",").map { $0.uppercased() }) : []
        let target = String(parts.last!)
        if target == "*" {
            scheme = "*"
            host = "*"
            port = nil
            return
        }
        guard let url = URLComponents(string: target), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host?.lowercased(), !host.isEmpty, url.path.isEmpty || url.path == "/" else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = url.port
    }

    /// Whether it lets `method` reach `url`.
    public func allows(method: String, url: URLComponents) -> Bool {
        if !methods.isEmpty, !methods.contains(method.uppercased()) { return false }
        guard let urlScheme = url.scheme?.lowercased(), urlScheme == "http" || urlScheme == "https" else { return false }
        if scheme == "*" { return true }
        guard urlScheme == scheme, let urlHost = url.host?.lowercased() else { return false }
        if host.hasPrefix("*.") {
            let base = String(host.dropFirst(2))
            guard urlHost == base || urlHost.hasSuffix("." + base) else { return false }
        } else if urlHost != host {
            return false
        }
        let urlPort = url.port ?? (urlScheme == "https" ? 443 : 80)
        return port.map { $0 == urlPort } ?? true
    }
}
