import Foundation
import GRDB
import RedisKit

/// Brings a daemon's replica up to a Redis namespace whose log was trimmed, before the daemon
/// opens it: a new daemon, or one that was dropped while the log moved on, starts from the
/// latest checkpoint plus the log's tail (docs/distributed.md, "Checkpoints and trimming").
///
/// Atomic with the tail: one Lua script reads the checkpoint (its data carries its own position,
/// `cluster_meta`) and, in the same step, holds the trim at that position for two minutes
/// (`aifs:joining`), so the entries after it stay until this daemon reads them; once it runs,
/// its own record in `aifs:daemons` holds them.
public enum CheckpointLoader {
    /// Milliseconds a joiner holds the trim while it loads.
    static let holdMilliseconds = 120_000

    /// KEYS: checkpoint, joining. ARGV: hold ms, joiner. Returns {position, data}, or nil.
    static let takeScript = """
        local c = redis.call('HMGET', KEYS[1], 'position', 'data')
        if not c[1] then return false end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[2] .. '|' .. c[1])
        return c
        """

    /// Replaces the replica at `replicaPath` by the checkpoint if the log no longer holds what
    /// the replica needs; returns what it did (nil: nothing was needed). With `replicaPath` nil
    /// (`--store memory`) a trimmed log cannot be joined: it throws, saying so. Redis
    /// unreachable: nothing is done here (the tailer finds out later).
    public static func prepare(url: String, replicaPath: String?) throws -> String? {
        let redis: RedisConnection
        let trimmed: RedisValue
        do {
            redis = try RedisConnection(url: url, timeout: 60)
            trimmed = try redis.command(["GET", RedisLog.trimmedKey])
        } catch {
            return nil
        }
        defer { redis.close() }
        // The newest entry trimmed away; none: the log is whole (or new).
        let deleted = trimmed.string ?? "0-0"
        let local = replicaPath.map(localPosition) ?? "0-0"
        guard RedisLog.compare(deleted, "0-0") > 0, RedisLog.compare(local, deleted) < 0 else { return nil }
        guard let replicaPath else {
            throw StoreError("the log of this Redis namespace is trimmed (up to \(deleted)): a daemon with --store memory "
                             + "cannot start from its checkpoint; give it a replica ([store] path or --store PATH)")
        }
        let joiner = "\(ClusterMember.localHost)-\(getpid())"
        let reply = try redis.command(["EVAL", takeScript, "2", RedisLog.checkpointKey, RedisLog.joiningKey,
                                       "\(holdMilliseconds)", joiner].map { Array($0.utf8) }, readTimeout: 60)
        guard let parts = reply.array, parts.count == 2, let position = parts[0].string, let data = parts[1].bytes else {
            throw StoreError("the log of this Redis namespace is trimmed (up to \(deleted)) but it holds no checkpoint")
        }
        let raw = try CheckpointCodec.decompress(data)
        try install(raw, at: replicaPath)
        return "replica \(replicaPath) was at \(local), the log is trimmed up to \(deleted): "
            + "loaded the checkpoint at \(position) (\(data.count) bytes, \(raw.count) unpacked)"
    }

    /// The log position a replica stands at ("0-0" for none).
    static func localPosition(_ path: String) -> String {
        guard FileManager.default.fileExists(atPath: path) else { return "0-0" }
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: configuration) else { return "0-0" }
        defer { try? queue.close() }
        return (try? queue.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM cluster_meta WHERE key = 'position'")
        }) ?? "0-0"
    }

    /// The first bytes of a SQLite database file: what checkpoints held before ``TableDump``.
    static let sqliteHeader = Array("SQLite format 3\0".utf8)

    /// Makes the database from the checkpoint's ``TableDump`` (or, from an older daemon, the
    /// database file itself) next to the replica, then puts it in its place (the old files go).
    static func install(_ dump: [UInt8], at path: String) throws {
        try SQLiteStore.prepareDirectory((path as NSString).deletingLastPathComponent)
        let loading = path + ".loading"
        // Files 0600 by chmod, not by umask: the umask is the whole process's, and another
        // thread's files (a test's directory beside this) would get it too. The directory is
        // 0700 meanwhile.
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(loading + suffix) }
        do {
            if dump.starts(with: Self.sqliteHeader) {
                // A checkpoint written before the table dump (the database file itself).
                guard FileManager.default.createFile(atPath: loading, contents: Data(dump), attributes: [.posixPermissions: 0o600]) else {
                    throw StoreError("cannot write \(loading): \(String(cString: strerror(errno)))")
                }
            } else {
                try TableDump.decode(dump, to: loading)
            }
        } catch {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(loading + suffix) }
            throw StoreError("cannot make the replica from the checkpoint at \(loading): \(error)")
        }
        chmod(loading, 0o600)
        let fd = open(loading, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        guard rename(loading, path) == 0 else {
            throw StoreError("cannot put the checkpoint at \(path): \(String(cString: strerror(errno)))")
        }
    }
}
