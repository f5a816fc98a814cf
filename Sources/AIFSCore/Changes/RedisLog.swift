import Foundation
import FuseKit
import Logging
import RedisKit
import Synchronization

/// The change log of many daemons sharing one namespace on Redis (`[store] backend = "redis"`).
///
/// Three threads, none of them Swift's cooperative pool or the FUSE loop:
/// - the **writer** appends entries to the log stream (`XADD aifs:log`), in the order they
///   were posted. A command whose daemon waits for it fails at once with `EIO` while Redis is
///   unreachable; the owner's work entries wait and are retried, in order;
/// - the **tailer** reads the log (`XREAD BLOCK`) and applies every entry, in order, then tells
///   the waiting daemon the result (it answers its FUSE request then). It remembers how far it
///   got in the local store, so a restarted daemon catches up from there;
/// - the **keeper** (every second): heartbeat (`ZADD aifs:daemons`), renews the leases of the
///   sockets it owns (`aifs:owner:ID`, 3 s) and takes any socket whose lease has lapsed — its
///   owner stopped — so another daemon answers its queue within a few seconds.
public final class RedisLog: ChangeLog, @unchecked Sendable {
    public let id: String
    public let url: String
    static let logKey = "aifs:log"
    static let daemonsKey = "aifs:daemons"
    static let leaderKey = "aifs:leader"
    static func ownerKey(_ socket: SocketID) -> String { "aifs:owner:\(socket)" }
    /// Seconds a lease lasts without renewal.
    public static let leaseSeconds = 3.0

    let logger = Logger(label: "aifs.cluster")
    private weak var applierRef: (any ChangeApplier)?
    private let applierLock = NSLock()
    var applier: (any ChangeApplier)? {
        applierLock.lock(); defer { applierLock.unlock() }
        return applierRef
    }

    struct Pending {
        let bytes: [UInt8]
        /// A command: fails at once while Redis is down.
        let waits: Bool
        let token: UInt64
        let sequence: UInt64
    }
    struct State {
        var outbox: [Pending] = []
        var completions: [UInt64: @Sendable (ChangeResult) -> Void] = [:]
        var nextToken: UInt64 = 1
        var nextSequence: UInt64 = 1
        /// The last sequence applied per origin (duplicates are skipped).
        var applied: [String: UInt64] = [:]
        var connected = true
        var lastError = ""
        /// The last log id applied here.
        var position = "0-0"
        var barriers: [(id: String, done: @Sendable () -> Void)] = []
        var owned: Set<SocketID> = []
        var leader = false
        var stopped = false
        /// The origin of the entry the tailer is applying.
        var applyingOrigin: String?
        /// The live daemons as the keeper last read them, when, and the newest log id then.
        var members: [ClusterMember] = []
        var membersRead = Date.distantPast
        var lastLogID = "0-0"
        /// Why this daemon stopped applying: the log was trimmed past it (nil while it applies).
        var trimmedPast: String?
        /// Entries applied since the last checkpoint this daemon knows of (the leader writes a
        /// new one past `[store] checkpoint_entries`), and whether one is being written.
        var appliedSinceCheckpoint = 0
        var checkpointing = false
        /// Since when the keeper wants the tailer to copy the replica (nil: not wanted).
        var checkpointWanted: Date?
        var nextCheckpointAttempt = Date.distantPast
        /// The keeper's view of a quiet log: `appliedSinceCheckpoint` at its last tick, and for
        /// how many ticks in a row it has not moved (``RedisLog/keepLogBounded()``).
        var appliedAtLastTick = 0
        var quietTicks = 0
        /// The last checkpoint this daemon wrote: its position and compressed size.
        var checkpoint: (position: String, bytes: Int)?
    }
    let state: Mutex<State>
    private let outboxSignal = NSCondition()
    let control: RedisConnection
    let controlQueue = DispatchQueue(label: "aifs.cluster.control")
    /// Called after each entry is applied (the daemon records the position in its replica).
    private var onApplied: (@Sendable (String) -> Void)?

    /// `[store] member_timeout` and the checkpoint settings.
    let settings: ClusterSettings
    /// This host's name, and when this daemon started (its record in `aifs:daemons`).
    let host: String
    let started = WallClock.now()
    /// The version and mountpoint this daemon runs with (``announce(version:mountpoint:)``).
    var announced: (version: String, mountpoint: String) { announcedBox.withLock { $0 } }
    private let announcedBox = Mutex((version: "?", mountpoint: ""))

    public init(url: String, position: String, settings: ClusterSettings = ClusterSettings()) throws {
        _ = try RedisConnection.parse(url: url)
        self.url = url
        self.settings = settings
        host = ClusterMember.localHost
        id = "\(host)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        control = try RedisConnection(url: url)
        state = Mutex(State(position: position))
    }

    public func attach(_ applier: any ChangeApplier) {
        applierLock.lock(); applierRef = applier; applierLock.unlock()
    }

    /// The store checkpoints are copied from, when this daemon leads (``useCheckpoints(from:)``).
    var checkpointStore: (any SocketStore)? { checkpointStoreBox.withLock { $0 } }
    private let checkpointStoreBox = Mutex<(any SocketStore)?>(nil)

    public func useCheckpoints(from store: any SocketStore) {
        checkpointStoreBox.withLock { $0 = store }
    }

    public func announce(version: String, mountpoint: String) {
        announcedBox.withLock { $0 = (version, mountpoint) }
    }

    /// Starts the threads; entries are applied to the attached applier from now on.
    public func start(onApplied: @escaping @Sendable (String) -> Void) {
        self.onApplied = onApplied
        Thread { [self] in writerLoop() }.start()
        Thread { [self] in tailerLoop() }.start()
        controlQueue.async { [self] in
            // What the log holds counts toward the next checkpoint (it is trimmed behind the last one).
            let length = (try? control.command(["XLEN", Self.logKey]))?.int ?? 0
            state.withLock { $0.appliedSinceCheckpoint += Int(length) }
            keep()
        }
    }

    /// Stops the threads and gives up this daemon's leases, so others take over at once.
    public func stop() {
        let owned = state.withLock { s -> Set<SocketID> in
            s.stopped = true
            return s.owned
        }
        outboxSignal.lock(); outboxSignal.broadcast(); outboxSignal.unlock()
        controlQueue.sync {
            for socket in owned { _ = try? control.command(["EVAL", Self.releaseScript, "1", Self.ownerKey(socket), id]) }
            _ = try? control.command(["EVAL", Self.releaseScript, "1", Self.leaderKey, id])
            _ = try? control.command(["ZREM", Self.daemonsKey, id])
            _ = try? control.command(["DEL", Self.memberKey(id)])
        }
    }

    // MARK: Posting

    /// Appends an entry to the log. With `done`, the entry is a command this daemon waits for:
    /// `done` gets what applying it here produced, or `EIO` (reason in ``lastError``) when it
    /// could not be stored. Without it, the entry is work, retried until stored.
    public func post(_ change: Change, done: (@Sendable (ChangeResult) -> Void)?) {
        let refused: Bool = state.withLock { s in
            if let done, !s.connected || s.stopped { _ = done; return true }
            var token: UInt64 = 0
            if let done {
                token = s.nextToken
                s.nextToken += 1
                s.completions[token] = done
            }
            let entry = LoggedChange(origin: id, time: WallClock.now(), token: token, sequence: s.nextSequence, change: change)
            s.nextSequence += 1
            s.outbox.append(Pending(bytes: LoggedChangeCodec.encode(entry), waits: done != nil, token: token, sequence: entry.sequence))
            return false
        }
        if refused {
            done?(.done(.EIO))
            return
        }
        outboxSignal.lock(); outboxSignal.signal(); outboxSignal.unlock()
    }

    /// Why the last Redis call failed ("" while connected).
    public var lastError: String { state.withLock { $0.lastError } }
    public var isConnected: Bool { state.withLock { $0.connected } }
    public var joinDescription: String? { "redis \(url) as daemon \(id) from \(position)" }
    public var unavailableReason: String? { state.withLock { $0.connected ? nil : $0.lastError } }

    public func statusLines(sockets: [SocketID]) -> [String] {
        let owned = state.withLock { s in sockets.filter { s.owned.contains($0) }.count }
        var lines = ["cluster: \(url) daemon \(id), \(isConnected ? "connected" : "unreachable: \(lastError)")",
                     "cluster-position: \(position)",
                     "owned: \(owned)"]
        if let checkpoint = state.withLock({ $0.checkpoint }) {
            lines.append("checkpoint: \(checkpoint.position), \(checkpoint.bytes) bytes")
        }
        return lines
    }

    func setConnected(_ connected: Bool, _ error: String = "") {
        let failed: [@Sendable (ChangeResult) -> Void] = state.withLock { s in
            let was = s.connected
            // A daemon the log was trimmed past stays unavailable until it is mounted again.
            let connected = connected && s.trimmedPast == nil
            s.connected = connected
            s.lastError = s.trimmedPast ?? error
            guard was, !connected else { return [] }
            // Commands still waiting to be stored fail now; work waits for Redis.
            let commands = s.outbox.filter(\.waits)
            s.outbox.removeAll(where: \.waits)
            return commands.compactMap { s.completions.removeValue(forKey: $0.token) }
        }
        if !connected { logger.warning("redis unreachable: \(error)") }
        for done in failed { done(.done(.EIO)) }
    }

    /// Appends what was posted, in order, up to 64 entries per network round trip (pipelined
    /// `XADD`s). A batch that fails is tried once more on a fresh connection (a connection left
    /// over from before a Redis restart fails once); if part of it had landed, the repeats are
    /// skipped when applied (each entry carries its origin's sequence number).
    private func writerLoop() {
        let redis = try! RedisConnection(url: url)
        while true {
            outboxSignal.lock()
            while state.withLock({ $0.outbox.isEmpty && !$0.stopped }) { outboxSignal.wait() }
            outboxSignal.unlock()
            let batch = state.withLock { s -> [Pending] in s.stopped ? [] : Array(s.outbox.prefix(64)) }
            guard !batch.isEmpty else { return }
            let commands = batch.map { [Array("XADD".utf8), Array(Self.logKey.utf8), Array("*".utf8), Array("e".utf8), $0.bytes] }
            let sent = Set(batch.map(\.sequence))
            do {
                let replies: [RedisValue]
                do {
                    replies = try redis.pipeline(commands)
                } catch {
                    redis.close()
                    replies = try redis.pipeline(commands)
                }
                if case .error(let message)? = replies.first(where: { if case .error = $0 { return true } else { return false } }) {
                    throw RedisError(.reply, message)
                }
                state.withLock { s in s.outbox.removeAll { sent.contains($0.sequence) } }
                if !isConnected { setConnected(true) }
            } catch {
                let reason = (error as? RedisError)?.message ?? "\(error)"
                // Commands in the batch fail now; work stays queued for when Redis is back.
                let failed = state.withLock { s -> [@Sendable (ChangeResult) -> Void] in
                    let commands = s.outbox.filter { $0.waits && sent.contains($0.sequence) }
                    s.outbox.removeAll { $0.waits && sent.contains($0.sequence) }
                    return commands.compactMap { s.completions.removeValue(forKey: $0.token) }
                }
                for done in failed { done(.done(.EIO)) }
                setConnected(false, reason)
                usleep(200_000)
            }
        }
    }

    // MARK: Tailing

    /// Reads and applies the log. Each read is followed, in the same pipeline, by `GET
    /// aifs:trimmed`: if the newest entry trimmed away lies past where this
    /// read started and was not in what it returned, this daemon missed it — it was dropped
    /// (silent longer than `member_timeout`) and the log trimmed behind it — and it stops
    /// applying: its state would no longer be the namespace's (``trimmedPast``).
    private func tailerLoop() {
        let redis = try! RedisConnection(url: url, timeout: 5)
        while !state.withLock({ $0.stopped }) {
            copyForCheckpointIfDue()
            let from = state.withLock { $0.position }
            let reply: RedisValue, info: RedisValue
            do {
                let replies = try redis.pipeline([
                    ["XREAD", "COUNT", "500", "BLOCK", "1000", "STREAMS", Self.logKey, from].map { Array($0.utf8) },
                    ["GET", Self.trimmedKey].map { Array($0.utf8) },
                ])
                (reply, info) = (replies[0], replies[1])
            } catch {
                redis.close()
                setConnected(false, (error as? RedisError)?.message ?? "\(error)")
                usleep(200_000)
                continue
            }
            if case .error(let message) = reply {
                logger.error("XREAD failed: \(message)")
                usleep(200_000)
                continue
            }
            if !isConnected { setConnected(true) }
            let records = reply.array?.first?.array?.dropFirst().first?.array ?? []
            let deleted = info.string ?? "0-0"
            if Self.compare(deleted, from) > 0,
               !records.contains(where: { $0.array?.first?.string == deleted }) {
                let reason = "the log was trimmed past this daemon (it had applied up to \(from), entries up to \(deleted) are gone): "
                    + "it was silent longer than [store] member_timeout; unmount and mount it again to catch up from the checkpoint"
                logger.error("\(reason)")
                state.withLock { $0.trimmedPast = reason }
                setConnected(false, reason)
                return
            }
            for record in records {
                guard let fields = record.array, fields.count == 2, let logID = fields[0].string else { continue }
                let values = fields[1].array ?? []
                if values.count >= 2, let bytes = values[1].bytes {
                    applyLogged(bytes, logID: logID)
                }
                state.withLock { s in
                    s.position = logID
                    s.appliedSinceCheckpoint += 1
                }
                copyForCheckpointIfDue()
            }
            releaseBarriers()
        }
    }

    private func applyLogged(_ bytes: [UInt8], logID: String) {
        let entry: LoggedChange
        do {
            entry = try LoggedChangeCodec.decode(bytes)
        } catch {
            logger.error("skipped log entry \(logID): \(error)")
            return
        }
        guard let applier else { return }
        let duplicate = state.withLock { s -> Bool in
            if entry.sequence != 0, let last = s.applied[entry.origin], entry.sequence <= last { return true }
            s.applied[entry.origin] = entry.sequence
            return false
        }
        if duplicate {
            logger.warning("skipped a duplicate log entry \(logID) from \(entry.origin)")
            return
        }
        state.withLock { $0.applyingOrigin = entry.origin }
        // Applied in order: the next entry waits for this one (a snapshot, a restore) to finish.
        let outcome = Mutex<ChangeResult?>(nil)
        let finished = DispatchSemaphore(value: 0)
        WallClock.applying(at: entry.time) {
            applier.apply(entry) { result in
                outcome.withLock { $0 = result }
                finished.signal()
            }
        }
        finished.wait()
        let result = outcome.withLock { $0 } ?? .done(.EIO)
        state.withLock { $0.applyingOrigin = nil }
        onApplied?(logID)
        if entry.origin == id, entry.token != 0,
           let done = state.withLock({ $0.completions.removeValue(forKey: entry.token) }) {
            done(result)
        }
    }

    /// The last log id applied here (kept in the local store with the state it produced).
    public var position: String { state.withLock { $0.position } }

    /// Calls `done` once everything in the log *now* has been applied here: a read that must
    /// decide "nothing more is coming" sees every write that finished before it.
    public var mayLag: Bool { true }

    public func catchUp(_ done: @escaping @Sendable () -> Void) {
        controlQueue.async { [self] in
            let last: String
            do {
                let reply = try control.command(["XREVRANGE", Self.logKey, "+", "-", "COUNT", "1"])
                last = reply.array?.first?.array?.first?.string ?? "0-0"
            } catch {
                return done()  // Redis is down: decide on what is here
            }
            let ready = state.withLock { s -> Bool in
                if Self.compare(s.position, last) >= 0 { return true }
                s.barriers.append((last, done))
                return false
            }
            if ready { done() }
        }
    }

    private func releaseBarriers() {
        let ready = state.withLock { s -> [@Sendable () -> Void] in
            let position = s.position
            let due = s.barriers.filter { Self.compare(position, $0.id) >= 0 }
            s.barriers.removeAll { Self.compare(position, $0.id) >= 0 }
            return due.map(\.done)
        }
        for done in ready { done() }
    }

    /// Orders stream ids `MS-SEQ`.
    static func compare(_ a: String, _ b: String) -> Int {
        func parts(_ s: String) -> (UInt64, UInt64) {
            let p = s.split(separator: "-")
            return (UInt64(p.first ?? "0") ?? 0, UInt64(p.count > 1 ? p[1] : "0") ?? 0)
        }
        let (x, y) = (parts(a), parts(b))
        return x < y ? -1 : (x == y ? 0 : 1)
    }
}
