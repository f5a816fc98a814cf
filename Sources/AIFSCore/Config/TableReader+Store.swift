import Foundation
import TOMLKit

/// Where and how the store keeps its data: `[store]` (path, backend, Redis URL, durability),
/// `[memory]` retention and `[snapshots]`.
extension TableReader {
    /// `[store]`: path, durability, journal delay, and the backend (`sqlite`, or `redis` with its `url`).
    mutating func readStore(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
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
            case "journal_delay": config.journalDelay = try duration(table, "store.journal_delay")
            case "member_timeout":
                let seconds = try duration(table, "store.member_timeout")
                guard ClusterSettings.memberTimeoutRange.contains(seconds) else {
                    throw error("store.member_timeout", "\(seconds) s is not between 1 s and 1 h")
                }
                config.cluster.memberTimeout = seconds
            case "checkpoint_entries":
                let entries = try int(table, "store.checkpoint_entries", min: ClusterSettings.checkpointEntriesRange.lowerBound)
                guard entries <= ClusterSettings.checkpointEntriesRange.upperBound else {
                    throw error("store.checkpoint_entries", "\(entries) is more than \(ClusterSettings.checkpointEntriesRange.upperBound)")
                }
                config.cluster.checkpointEntries = entries
            default:
                throw error("store.\(k)", "unknown key (known: path, durability, journal_delay, backend, url, member_timeout, checkpoint_entries)")
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
    }

    /// `[memory]`: how long, and how many, memories are kept, and how soon they are indexed.
    func readMemory(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for k in table.keys {
            switch k {
            case "max_age": config.retention.maxAge = try duration(table, "memory.max_age")
            case "max_rows": config.retention.maxRows = try int(table, "memory.max_rows", min: 1)
            case "index_delay": config.memoryIndexDelay = try duration(table, "memory.index_delay")
            default: throw error("memory.\(k)", "unknown key (known: max_age, max_rows, index_delay)")
            }
        }
    }

    /// `[snapshots]`: how often a snapshot is taken and how many are kept.
    func readSnapshots(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for k in table.keys {
            switch k {
            case "interval": config.snapshotInterval = try duration(table, "snapshots.interval")
            case "keep": config.snapshotKeep = try int(table, "snapshots.keep", min: 0)
            default: throw error("snapshots.\(k)", "unknown key (known: interval, keep)")
            }
        }
    }
}
