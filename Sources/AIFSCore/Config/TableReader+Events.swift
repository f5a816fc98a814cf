import TOMLKit

/// `[events]`: what `/ai/events` keeps (see ``EventRetention``).
extension TableReader {
    func readEvents(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for k in table.keys {
            switch k {
            case "max_age": config.events.maxAge = try duration(table, "events.max_age")
            case "max_rows": config.events.maxRows = try int(table, "events.max_rows", min: 1)
            default: throw error("events.\(k)", "unknown key (known: max_age, max_rows)")
            }
        }
    }
}
