import Foundation

/// Where a listener binds: `HOST:PORT`, where HOST is an IPv4 address, a bracketed IPv6 address
/// (`[::1]`) or a host name, and PORT is 0-65535 (0: any free port, shown once bound).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host as given, without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
              portText.count <= 5, let port = Int(portText), port <= 65535 else { return nil }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return nil }
            host = String(host.dropFirst().dropLast())
            var address = in6_addr()
            guard inet_pton(AF_INET6, host, &address) == 1 else { return nil }
        } else {
            guard !host.isEmpty, !host.contains(":"),
                  host.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "." || $0 == "-") })
            else { return nil }
            // All digits and dots: it must be a whole IPv4 address (not a name like 127.1).
            if host.allSatisfy({ $0.isNumber || $0 == "." }) {
                var address = in_addr()
                guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
            }
        }
        self.host = host
        self.port = port
    }

    /// `HOST:PORT`, an IPv6 host in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
