import Foundation
import FuseKit
import RedisKit

/// The keeper of a ``RedisLog`` (every second, on its control queue): the heartbeat and this
/// daemon's record (`aifs:daemons`, `aifs:daemon:ID`), the list of live daemons `/ai/cluster`
/// shows, the leader lease, and the leases of the sockets this daemon answers (`aifs:owner:ID`,
/// 3 s), taking any socket whose lease lapsed — its owner stopped.
extension RedisLog {
    public func owns(_ socket: SocketID) -> Bool { state.withLock { $0.owned.contains(socket) } }
    public var isLeader: Bool { state.withLock { $0.leader } }

    /// Claims a new socket this daemon made (so it answers it, unless another daemon already does).
    public func claim(_ socket: SocketID) {
        controlQueue.async { [self] in
            if let reply = try? control.command(["SET", Self.ownerKey(socket), id, "NX", "PX", "\(Int(Self.leaseSeconds * 1000))"]),
               reply == .status("OK") {
                state.withLock { _ = $0.owned.insert(socket) }
                applier?.tookOver(socket)
            }
        }
    }

    /// Whether the entry being applied was written by this daemon.
    public var applyingLocalChange: Bool { state.withLock { $0.applyingOrigin == id } }

    /// Claims a socket made by an entry this daemon wrote (called while applying it).
    public func claimIfOrigin(_ socket: SocketID) {
        if applyingLocalChange { claim(socket) }
    }

    /// Forgets a removed socket's lease.
    public func release(_ socket: SocketID) {
        let mine = state.withLock { $0.owned.remove(socket) != nil }
        guard mine else { return }
        controlQueue.async { [self] in _ = try? control.command(["EVAL", Self.releaseScript, "1", Self.ownerKey(socket), id]) }
    }

    /// Renews what it owns, takes what nobody owns: returns 1 (renewed), 2 (taken), 0 (another's).
    static let leaseScript = """
        local out = {}
        for i, key in ipairs(KEYS) do
          local owner = redis.call('GET', key)
          if owner == ARGV[1] then
            redis.call('PEXPIRE', key, ARGV[2]); out[i] = 1
          elseif not owner then
            redis.call('SET', key, ARGV[1], 'PX', ARGV[2]); out[i] = 2
          else
            out[i] = 0
          end
        end
        return out
        """
    static let releaseScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

    /// The heartbeat, in one round trip: this daemon's score (Redis's clock) and record; every
    /// daemon not heard of for the member timeout dropped (its record deleted); then the newest
    /// log id, the leader, and each live daemon's score and record.
    /// KEYS: daemons, own record, log, leader. ARGV: id, timeout ms, record ttl ms, fields….
    static let heartbeatScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        redis.call('HSET', KEYS[2], unpack(ARGV, 4))
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
        for _, g in ipairs(gone) do
          redis.call('ZREM', KEYS[1], g)
          redis.call('DEL', 'aifs:daemon:' .. g)
        end
        local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
        local out = {now, gone, last[1] and last[1][1] or '0-0', redis.call('GET', KEYS[4]) or ''}
        local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
        for i = 1, #live, 2 do
          out[#out + 1] = live[i]
          out[#out + 1] = live[i + 1]
          out[#out + 1] = redis.call('HGETALL', 'aifs:daemon:' .. live[i])
        end
        return out
        """

    static func memberKey(_ id: String) -> String { "aifs:daemon:\(id)" }

    /// Beats, reads the members back, and keeps them for `/ai/cluster`.
    private func heartbeat() throws {
        let (owned, position) = state.withLock { ($0.owned.count, $0.position) }
        let timeout = Int(settings.memberTimeout * 1000)
        let record = ClusterMember.record(host: host, pid: getpid(), version: announced.version, mountpoint: announced.mountpoint,
                                          started: started, sockets: owned, position: position)
        let reply = try control.command(["EVAL", Self.heartbeatScript, "4", Self.daemonsKey, Self.memberKey(id), Self.logKey,
                                         Self.leaderKey, id, "\(timeout)", "\(max(60_000, timeout * 4))"] + record)
        if case .error(let message) = reply { throw RedisError(.reply, message) }
        guard let parts = reply.array, parts.count >= 4 else { throw RedisError(.reply, "unexpected heartbeat reply") }
        let now = parts[0].int ?? 0
        let last = parts[2].string ?? "0-0"
        let leader = parts[3].string
        var members: [ClusterMember] = []
        var index = 4
        while index + 2 < parts.count {
            let member = parts[index].string ?? ""
            let score = Int64(parts[index + 1].string ?? "") ?? Int64(Double(parts[index + 1].string ?? "") ?? 0)
            let values = parts[index + 2].array?.compactMap(\.string) ?? []
            var fields: [String: String] = [:]
            for pair in stride(from: 0, to: values.count - 1, by: 2) { fields[values[pair]] = values[pair + 1] }
            if let m = ClusterMember(id: member, fields: fields, heartbeatMilliseconds: score, now: now, lastLogID: last,
                                     leader: leader, selfID: id) {
                members.append(m)
            }
            index += 3
        }
        let before = state.withLock { s -> Set<String> in
            let before = Set(s.members.map(\.id))
            s.members = members
            s.membersRead = Date()
            s.lastLogID = last
            return before
        }
        for joined in Set(members.map(\.id)).subtracting(before) where joined != id { logger.info("daemon joined the namespace: \(joined)") }
        for left in (parts[1].array ?? []).compactMap(\.string) {
            logger.info("daemon left the namespace (silent longer than \(settings.memberTimeout) s): \(left)")
        }
    }

    /// The live daemons of the namespace as last read (at most a second old), ages as of now.
    public var members: [ClusterMember]? {
        let (members, read, owned, position, last, leader) = state.withLock {
            ($0.members, $0.membersRead, $0.owned.count, $0.position, $0.lastLogID, $0.leader)
        }
        let since = Int(Date().timeIntervalSince(read) * 1000)
        var listed = members.map { m in
            var m = m
            m.heartbeatAgeMilliseconds = m.heartbeatAgeMilliseconds.map { $0 + max(0, since) }
            if m.isSelf { (m.sockets, m.position, m.lagMilliseconds) = (owned, position, ClusterMember.lag(position: position, last: last)) }
            return m
        }
        if !listed.contains(where: \.isSelf) {
            // Not heard back yet (just started, or Redis unreachable): this daemon as it knows itself.
            listed.append(ClusterMember(id: id, host: host, pid: Int(getpid()), version: announced.version,
                                        mountpoint: announced.mountpoint, started: started, sockets: owned, position: position,
                                        lagMilliseconds: ClusterMember.lag(position: position, last: last), leader: leader, isSelf: true))
        }
        return listed
    }

    func keep() {
        guard !state.withLock({ $0.stopped }) else { return }
        if state.withLock({ $0.trimmedPast != nil }) { return leaveTrimmedPast() }
        defer { controlQueue.asyncAfter(deadline: .now() + 1) { [self] in keep() } }
        let ttl = "\(Int(Self.leaseSeconds * 1000))"
        do {
            let leader = try control.command(["EVAL", Self.leaseScript, "1", Self.leaderKey, id, ttl])
            state.withLock { $0.leader = leader.array?.first?.int ?? 0 > 0 }
            try heartbeat()
            let sockets = applier?.socketIDs() ?? []
            var taken: [SocketID] = []
            for chunk in stride(from: 0, to: sockets.count, by: 500) {
                let part = Array(sockets[chunk..<min(sockets.count, chunk + 500)])
                let reply = try control.command(["EVAL", Self.leaseScript, "\(part.count)"] + part.map(Self.ownerKey) + [id, ttl])
                let codes = reply.array?.map { $0.int ?? 0 } ?? []
                // Reported per chunk: a later chunk that fails must not lose these.
                var lost: [SocketID] = []
                defer { for socket in lost { applier?.lostOwnership(socket) } }
                state.withLock { s in
                    for (socket, code) in zip(part, codes) {
                        if code == 0 {
                            if s.owned.remove(socket) != nil { lost.append(socket) }
                        } else {
                            s.owned.insert(socket)
                        }
                    }
                }
                taken += zip(part, codes).filter { $0.1 == 2 }.map(\.0)
            }
            if !isConnected { setConnected(true) }
            for socket in taken { applier?.tookOver(socket) }
        } catch {
            return setConnected(false, (error as? RedisError)?.message ?? "\(error)")
        }
        // Trimming is upkeep: a script Redis refuses leaves the log longer, and this daemon
        // answering. Only a lost connection (which the next tick finds) counts as Redis down.
        do {
            try keepLogBounded()
        } catch let error as RedisError where error.kind == .reply {
            logger.error("trimming the log failed: \(error.message)")
        } catch {
            setConnected(false, (error as? RedisError)?.message ?? "\(error)")
        }
    }

    /// The log was trimmed past this daemon: its state is no longer the namespace's. It gives
    /// up its sockets and the leader lease and leaves `aifs:daemons` (so it holds no trim and
    /// answers nothing), and beats no more; a new mount starts it from the checkpoint.
    private func leaveTrimmedPast() {
        let owned = state.withLock { s -> Set<SocketID> in
            let owned = s.owned
            s.owned = []
            s.leader = false
            return owned
        }
        for socket in owned { _ = try? control.command(["EVAL", Self.releaseScript, "1", Self.ownerKey(socket), id]) }
        for socket in owned { applier?.lostOwnership(socket) }
        _ = try? control.command(["EVAL", Self.releaseScript, "1", Self.leaderKey, id])
        _ = try? control.command(["ZREM", Self.daemonsKey, id])
        _ = try? control.command(["DEL", Self.memberKey(id)])
    }
}
