import Foundation
import RedisKit

/// What keeps a Redis namespace's log bounded (docs/distributed.md, "Checkpoints and
/// trimming"): the leader writes a **checkpoint** — a compact copy of its replica, which holds
/// the whole state (sockets, queues, contexts, transcripts, memories, snapshots) and the log
/// position it stands at — into the hash `aifs:checkpoint` once it has applied
/// `[store] checkpoint_entries` entries past the last one, and every second **trims** the log
/// (`XTRIM MINID`) behind the oldest of: the checkpoint's position, every live daemon's applied
/// position, and every daemon still loading the checkpoint (`aifs:joining`). A daemon dropped
/// from `aifs:daemons` (silent longer than `member_timeout`) is not waited for.
extension RedisLog {
    static let checkpointKey = "aifs:checkpoint"
    static let joiningKey = "aifs:joining"
    static let trimmedKey = "aifs:trimmed"

    /// Lua: stream ids `MS-SEQ` compared as numbers.
    static let luaIDLess = """
        local function parse(id)
          local ms, seq = string.match(id, '^(%d+)-(%d+)$')
          return tonumber(ms) or 0, tonumber(seq) or 0
        end
        local function less(a, b)
          local am, as = parse(a)
          local bm, bs = parse(b)
          return am < bm or (am == bm and as < bs)
        end

        """

    /// Replaces the checkpoint unless the stored one is as new (a former leader finishing late).
    /// KEYS: checkpoint. ARGV: position, data, time, unpacked bytes, writer.
    static let storeCheckpointScript = luaIDLess + """
        local current = redis.call('HGET', KEYS[1], 'position')
        if current and not less(current, ARGV[1]) then return 0 end
        redis.call('HSET', KEYS[1], 'position', ARGV[1], 'data', ARGV[2], 'time', ARGV[3], 'raw_bytes', ARGV[4],
                   'writer', ARGV[5], 'bytes', string.len(ARGV[2]))
        return 1
        """

    /// Trims behind the checkpoint, every live daemon and every joiner; nothing without a
    /// checkpoint. The newest id it removes is kept in `aifs:trimmed` (Redis 7.0's `XINFO` does
    /// not say what `XTRIM` removed): a reader that started before it and did not get it missed
    /// entries. KEYS: log, checkpoint, daemons, joining, trimmed. Returns the entries removed.
    static let trimScript = luaIDLess + """
        local bound = redis.call('HGET', KEYS[2], 'position')
        if not bound then return 0 end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
        for _, hold in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
          local p = string.match(hold, '|(.+)$')
          if p and less(p, bound) then bound = p end
        end
        for _, d in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
          local p = redis.call('HGET', 'aifs:daemon:' .. d, 'position')
          if p and less(p, bound) then bound = p end
        end
        -- A daemon that has applied nothing yet holds everything back ('(0-0' is no range).
        if bound == '0-0' then return 0 end
        local last = redis.call('XREVRANGE', KEYS[1], '(' .. bound, '-', 'COUNT', 1)
        if not last[1] then return 0 end
        local trimmed = redis.call('GET', KEYS[5])
        if not trimmed or less(trimmed, last[1][1]) then redis.call('SET', KEYS[5], last[1][1]) end
        return redis.call('XTRIM', KEYS[1], 'MINID', bound)
        """

    /// Keeper ticks (seconds) without a new entry after which the leader checkpoints what it
    /// applied since the last checkpoint, if that is at least a tenth of `checkpoint_entries`:
    /// once a burst ends, the log is trimmed to (almost) nothing instead of keeping up to
    /// `checkpoint_entries` entries until the next burst, so a namespace at rest holds little
    /// more than its compressed checkpoint.
    static let quietTicksBeforeCheckpoint = 5

    /// The leader's part of a keeper tick: trim, and ask the tailer for a checkpoint when one
    /// is due: past `checkpoint_entries`, or after a burst once the log is quiet.
    func keepLogBounded() throws {
        guard isLeader else { return }
        let trimmed = try control.command(["EVAL", Self.trimScript, "5", Self.logKey, Self.checkpointKey, Self.daemonsKey, Self.joiningKey,
                                           Self.trimmedKey])
        if case .error(let message) = trimmed { throw RedisError(.reply, message) }
        if let count = trimmed.int, count > 0 { logger.debug("trimmed \(count) log entries") }
        guard checkpointStore != nil else { return }
        state.withLock { s in
            s.quietTicks = s.appliedSinceCheckpoint == s.appliedAtLastTick ? s.quietTicks + 1 : 0
            s.appliedAtLastTick = s.appliedSinceCheckpoint
            let quietAfterBurst = s.quietTicks >= Self.quietTicksBeforeCheckpoint
                && s.appliedSinceCheckpoint >= max(1, settings.checkpointEntries / 10)
            guard !s.checkpointing, s.trimmedPast == nil, s.appliedSinceCheckpoint >= settings.checkpointEntries || quietAfterBurst,
                  Date() >= s.nextCheckpointAttempt else { return }
            s.checkpointing = true
            s.checkpointWanted = Date()
        }
    }

    /// Seconds the tailer waits for a moment between replies before it copies anyway.
    static let quietWait = 30.0

    /// Called by the tailer between entries: copies the replica if a checkpoint is wanted and no
    /// reply is half streamed (its start is only in memory until it ends, so a daemon loading
    /// the copy would lose it). The tailer applies nothing while the copy is made (a second or
    /// two for a large replica); compressing and storing it run on a thread of their own.
    func copyForCheckpointIfDue() {
        guard let wanted = state.withLock({ $0.checkpointWanted }), let store = checkpointStore else { return }
        let quiet = applier?.isBetweenReplies() ?? true
        guard quiet || Date().timeIntervalSince(wanted) > Self.quietWait else { return }
        if !quiet {
            logger.warning("""
                no moment between replies for \(Int(Self.quietWait)) s: the checkpoint is taken with a reply in flight; \
                a daemon that starts from it has that reply without its start
                """)
        }
        let counted = state.withLock { s -> Int in
            s.checkpointWanted = nil
            return s.appliedSinceCheckpoint
        }
        let temp = store.location + ".checkpoint"
        let began = Date()
        do {
            try store.writeCheckpoint(to: temp)
        } catch {
            return checkpointFailed(error, temp: temp)
        }
        Thread { [self] in storeCheckpoint(temp, counted: counted, began: began) }.start()
    }

    private func checkpointFailed(_ error: any Error, temp: String) {
        logger.error("checkpoint failed (tried again in a minute): \(error)")
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
        state.withLock { s in
            s.nextCheckpointAttempt = Date().addingTimeInterval(60)
            s.checkpointing = false
        }
    }

    /// Compacts the copy, writes it as a ``TableDump``, compresses that and stores it (on a
    /// thread of its own: it takes seconds for a large replica).
    private func storeCheckpoint(_ temp: String, counted: Int, began: Date) {
        do {
            let position = try SQLiteStore.compactCheckpoint(at: temp)
            let raw = try TableDump.encode(databaseAt: temp)
            let packed = try CheckpointCodec.compress(raw)
            let redis = try RedisConnection(url: url, timeout: 60)
            defer { redis.close() }
            let arguments: [[UInt8]] = [Array("EVAL".utf8), Array(Self.storeCheckpointScript.utf8), Array("1".utf8),
                                        Array(Self.checkpointKey.utf8), Array(position.utf8), packed,
                                        Array("\(WallClock.now())".utf8), Array("\(raw.count)".utf8), Array(id.utf8)]
            let reply = try redis.command(arguments, readTimeout: 60)
            if case .error(let message) = reply { throw RedisError(.reply, message) }
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
            state.withLock { s in
                s.appliedSinceCheckpoint = max(0, s.appliedSinceCheckpoint - counted)
                s.checkpoint = (position, packed.count)
                s.checkpointing = false
            }
            logger.info("checkpoint written", metadata: [
                "position": "\(position)", "bytes": "\(packed.count)", "unpacked": "\(raw.count)",
                "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(began)))",
            ])
        } catch {
            checkpointFailed(error, temp: temp)
        }
    }
}
