import Foundation
import TOMLKit

/// `[metrics]`: the optional HTTP listener that serves `/ai/metrics` at `GET /metrics`.
extension TableReader {
    /// `[metrics]`: `listen = "HOST:PORT"` (off when absent).
    func readMetrics(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for k in table.keys {
            let path = "metrics.\(k)"
            switch k {
            case "listen":
                let text = try string(table, path)
                guard let address = ListenAddress(parsing: text) else {
                    throw error(path, "'\(text)' is not HOST:PORT (e.g. \"127.0.0.1:9464\", \"[::1]:9464\", \"localhost:9464\"; "
                                + "port 0-65535, 0 for any free port)")
                }
                config.metricsListen = address
            default:
                throw error(path, "unknown key (known: listen)")
            }
        }
    }
}
