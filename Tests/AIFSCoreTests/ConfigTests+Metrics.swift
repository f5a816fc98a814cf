@testable import AIFSCore
import Testing

/// `[metrics] listen`: what it accepts, and the error naming file, line and key for the rest.
@Suite("configuration: [metrics]")
struct MetricsConfigTests: ConfigParsing {
    @Test("off by default; HOST:PORT with IPv4, [IPv6], a host name, and port 0")
    func accepted() throws {
        #expect(try parse("").metricsListen == nil)
        #expect(try parse("[metrics]\n").metricsListen == nil)
        #expect(try parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n").metricsListen == ListenAddress(host: "127.0.0.1", port: 9464))
        #expect(try parse("[metrics]\nlisten = \"[::1]:9464\"\n").metricsListen == ListenAddress(host: "::1", port: 9464))
        #expect(try parse("[metrics]\nlisten = \"localhost:0\"\n").metricsListen == ListenAddress(host: "localhost", port: 0))
        #expect(try parse("[metrics]\nlisten = \"0.0.0.0:65535\"\n").metricsListen?.port == 65535)
        #expect(ListenAddress(host: "::1", port: 1).description == "[::1]:1")
        #expect(ListenAddress(host: "127.0.0.1", port: 9464).description == "127.0.0.1:9464")
    }

    @Test("a bad listen value names the file, the line, the key and the form wanted",
          arguments: ["9464", "127.0.0.1", "127.0.0.1:", ":9464", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http",
                      "::1:9464", "[::1:9464", "[nothost]:9464", "300.1.1.1:9464", "127.1:9464", "a b:9464", "host:9464x",
                      "127.0.0.1:99999999999999999999"])
    func refused(_ value: String) {
        #expect(error("[metrics]\nlisten = \"\(value)\"\n")
                == "test.toml:2: metrics.listen: '\(value)' is not HOST:PORT (e.g. \"127.0.0.1:9464\", \"[::1]:9464\", "
                + "\"localhost:9464\"; port 0-65535, 0 for any free port)")
    }

    @Test("a wrong type or an unknown key is refused")
    func wrongKeys() {
        #expect(error("[metrics]\nlisten = 9464\n") == "test.toml:2: metrics.listen: must be a string")
        #expect(error("[metrics]\nport = 9464\n") == "test.toml:2: metrics.port: unknown key (known: listen)")
        #expect(error("metrics = 1\n").hasPrefix("test.toml:1: metrics: must be a table"))
    }
}
