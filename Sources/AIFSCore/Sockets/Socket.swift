import FuseKit
import Synchronization

/// A socket's stable number; inode numbers are derived from it (see ``InodeScheme``).
public typealias SocketID = UInt64

/// A message accepted from `input` (or `chat`, `team-chat-all/input`, a wire), as it is queued.
/// Why a socket refused something; carries its errno and the line for `error`.
public struct SocketError: Error, ErrnoConvertible, CustomStringConvertible {
    public let errno: Errno
    public let reason: String
    public init(_ errno: Errno, _ reason: String) {
        self.errno = errno
        self.reason = reason
    }
    public var description: String { reason }
}

extension SocketInfo {
    /// The `key: value` text of `ctl` (`docs/file-protocol.md`, "`ctl` (per socket)"): the fixed
    /// keys, then each setting that is set. Without `live` (a snapshot's copy) the keys that only
    /// mean something now (`in-flight`, `last-latency`, `errors`) are left out.
    func controlText(live: Bool) -> String {
        var lines = [
            "name: \(name)",
            "model: \(model)",
            "state: \(state.rawValue)",
            "created: \(WallClock.iso8601(created))",
            "last-activity: \(WallClock.iso8601(lastActivity))",
            "queued: \(queued)",
        ]
        if live { lines.append("in-flight: \(inFlight ? 1 : 0)") }
        lines += [
            "unread-bytes: \(unreadBytes)",
            "messages: \(messages)",
            "tokens-in: \(tokensIn)",
            "tokens-out: \(tokensOut)",
            "wire: \(wire ?? "-")",
            "headers: \(headers ? "on" : "off")",
            "owner: \(uid):\(gid)",
        ]
        if live {
            lines.append("last-latency: \(lastLatency.map(Self.seconds) ?? "-")")
            lines.append("errors: \(errorLines)")
        }
        for setting in Setting.allCases {
            if let value = settings[setting] { lines.append("\(setting.rawValue): \(value)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Seconds to the microsecond, in plain decimals (`0.000132`, `2.5`): what `last-latency` shows.
    static func seconds(_ value: Double) -> String {
        let micros = Int((max(0, value) * 1_000_000).rounded())
        var fraction = String(micros % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.count > 1, fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(micros / 1_000_000).\(fraction)"
    }
}

/// A point-in-time copy of what `getattr`, `ls` and `ctl` show about a socket.
public struct SocketInfo: Sendable {
    public var id: SocketID
    public var name: String
    public var model: String
    public var state: SocketState
    public var headers: Bool
    public var settings: [Setting: String]
    public var created: Double
    public var lastActivity: Double
    public var queued: Int
    public var inFlight: Bool
    public var unreadBytes: Int
    public var messages: Int
    public var tokensIn: Int
    public var tokensOut: Int
    public var uid: UInt32
    public var gid: UInt32
    public var mode: UInt32
    public var promptSize: Int
    public var transcriptSize: Int
    public var transcriptModified: Double
    /// The socket this one is wired to (`wire NAME`), if any.
    public var wire: String?
    /// Seconds the last request that ended took, as this daemon saw it (nil before the first).
    public var lastLatency: Double? = nil
    /// Lines written to `error` since this daemon made or loaded the socket (read or not).
    public var errorLines = 0
}

/// One AI socket: its settings, conversation, queue, the request in flight and the streams
/// readers see (`output`, `error`, `transcript`).
///
/// All state sits behind one lock, held only for short, non-blocking steps, so FUSE handlers
/// can call in directly from the loop thread. The request in flight runs in a task that streams
/// the provider's reply back in through ``ReplySink``. Each socket answers its queue in order,
/// one request at a time; sockets run concurrently.
///
/// Every change to what must survive a restart is told to the store (``SocketStore``) while
/// the lock is held, so the store sees one socket's changes in the order they happened. A
/// message is queued only once the store has committed it.
///
/// Readers of `output` that find nothing unread while a reply is pending are parked
/// (``PendingRequest``, no thread each) and answered by whoever appends, finishes or clears.
/// The code is split by concern: `Socket+Work` (the request in flight), `Socket+Streams`
/// (output, error, transcript, prompt), `Socket+Control` (ctl), `Socket+Store` (what is recorded).
public final class Socket: @unchecked Sendable {
    public let id: SocketID
    let environment: SocketEnvironment
    let state: Mutex<State>
    /// Where its agent program reads each message and replies (a socket whose model is `agent/NAME`).
    let agentInbox = AgentInbox()

    /// The request in flight. Only the socket's lock touches it.
    final class Work: @unchecked Sendable {
        let message: InputMessage
        var task: Task<Void, Never>?
        /// The reply text (what goes into the context and the transcript).
        var reply: [UInt8] = []
        /// Everything this request put into `output` (headers included), and where it began.
        var outputBytes: [UInt8] = []
        var outputStart: Int?
        var wroteHeader = false
        var cancelled = false
        /// The reply reached `[limits] reply_bytes` and was cut there.
        var cut = false
        /// A provider task was started for it here (with the Redis backend, only on the owner).
        var launched = false
        /// When it was launched here, and when its first reply text came (monotonic seconds,
        /// ``DaemonCounters/monotonicSeconds()``), for `/ai/metrics`.
        var launchedAt = 0.0
        /// When it left the queue here (monotonic seconds): where `last-latency` counts from
        /// on a daemon that follows the request instead of running it.
        let startedAt = DaemonCounters.monotonicSeconds()
        var firstTextAt: Double?
        /// Wall-clock times (the change's time with the Redis backend) of its start here and
        /// of its first reply text, and the tokens it reported, for `/ai/events`.
        let startedWallTime = WallClock.now()
        var firstTextTime: Double?
        var tokensIn = 0
        var tokensOut = 0
        /// The socket this reply goes to instead of `output` (the wire in force when it started).
        let forwardTo: Socket?
        /// Set for a compaction: the model writes a summary of the oldest turns (see ``Compaction``).
        let compaction: Compaction?
        init(message: InputMessage, forwardTo: Socket?, compaction: Compaction? = nil) {
            self.message = message
            self.forwardTo = forwardTo
            self.compaction = compaction
        }
    }

    /// How the request in flight ended (the same value the log carries).
    typealias Outcome = WorkOutcome

    /// What the socket's lock guards: settings, queue, request in flight, output, error log, transcript.
    struct State {
        var name: String
        var model: String
        var settings: [Setting: String] = [:]
        var life: SocketState = .active
        var headers = false
        var created: Double
        var lastActivity: Double
        var uid: UInt32
        var gid: UInt32
        var mode: UInt32
        var prompt: [UInt8] = []
        /// The conversation so far (merged, with its token estimate): what the model sees.
        var context = Conversation()
        /// Every turn since the last reset, as places in `transcript` (``History``).
        var history = History()
        /// A compaction asked for (`compact`) and not begun: it runs before the next message.
        var compactPending = false
        /// Compactions run (their ids: ``Socket/compactionIDs`` on, apart from message ids).
        var compactions: UInt64 = 0
        /// `auto-compact` compacted (or tried to) before the message at the head of the queue.
        var autoCompactTried = false
        var queue: [InputMessage] = []
        /// Messages accepted but not yet committed by the store (they count against the limit).
        var committing = 0
        /// Of those, the ones whose reply will land in `output` (or go down the wire).
        var committingOutput = 0
        /// Team rounds that gave up on this socket while its copy was still being committed:
        /// round → reason. The copy is cancelled when its commit lands, never started.
        var cancelledWhileCommitting: [UInt64: String] = [:]
        /// The socket this one's replies go to (`wire NAME`), and its name as last known.
        var wire: Socket?
        var wireName: String?
        /// Whether sockets wired into this one still have work that will arrive here, as last
        /// evaluated (see ``Socket/recheckUpstream()``).
        var upstreamFeeding = false
        /// Whether this socket was last seen to have work for its wire (to notice it stopping).
        var reportedFeeding = false
        var current: Work?
        var output = OutputBuffer()
        /// Readers of `output` parked or polling. A read about to get end of file while the log
        /// may lag holds its end until this daemon has applied everything logged before it.
        var readers = ReaderQueue()
        var errors = ErrorLog()
        var transcript: [UInt8] = []
        var transcriptModified: Double
        var messages = 0
        var tokensIn = 0
        var tokensOut = 0
        var nextMessageID: UInt64 = 1
        /// Failed requests in a row (a success resets it); at the limit the socket becomes unresponsive.
        var consecutiveFailures = 0
        /// Seconds the last request that ended took (`last-latency` in `ctl`); not stored.
        var lastLatency: Double?
        /// Lines written to `error` since this daemon made or loaded the socket (`errors` in `ctl`).
        var errorLines = 0
        /// The default `context-tokens` has trimmed the context (said once in `error`).
        var trimmedByDefault = false
        /// Removed or shut down: no more work, and nothing more is recorded.
        var closed = false
        /// Tool calls waiting for `approve`/`deny` (`pending/`), oldest first.
        var pendingCalls: [PendingCall] = []
        var pendingNumber: UInt32 = 0
        /// On the owner: where its agent loop waits for each pending call's decision.
        var toolDecisions: [String: ToolDecision] = [:]
        /// What `write` calls replaced, by call id, for `undo ID`.
        var undoRecords: [String: UndoRecord] = [:]

        /// The messages `[limits] queue` counts: queued, being committed, and the one in flight.
        var unanswered: Int { queue.count + committing + (current == nil ? 0 : 1) }
        /// Queued or committing messages whose reply will land in `output` or go down the wire.
        var queuedForOutput: Bool { committingOutput > 0 || queue.contains { $0.route.isOutput } }
        /// A reply that will land in this `output` is queued or in flight here (upstream aside;
        /// `chat` and team replies never land in `output`).
        var ownPending: Bool {
            (current.map { $0.message.route.isOutput && $0.forwardTo == nil } ?? false) || (wire == nil && queuedForOutput)
        }
        /// This socket has work whose reply will go down its wire (upstream aside).
        var feedsLocally: Bool {
            (current.map { $0.forwardTo != nil } ?? false) || (wire != nil && queuedForOutput)
        }
        /// A reply that will land in `output` is pending, given what upstream is doing.
        func isPending(upstream: Bool) -> Bool { ownPending || (wire == nil && upstream) }
    }

    init(id: SocketID, name: String, model: String, uid: UInt32, gid: UInt32, mode: UInt32, environment: SocketEnvironment) {
        self.id = id
        self.environment = environment
        let now = WallClock.now()
        state = Mutex(State(name: name, model: model, created: now, lastActivity: now, uid: uid, gid: gid,
                            mode: mode, transcriptModified: now))
    }

    /// A socket brought back from the store. Call ``resume()`` to answer its queue.
    init(restoring snapshot: SocketSnapshot, environment: SocketEnvironment) {
        let r = snapshot.record
        self.id = r.id
        self.environment = environment
        var s = State(name: r.name, model: r.model, created: r.created, lastActivity: r.lastActivity, uid: r.uid,
                      gid: r.gid, mode: r.mode, transcriptModified: snapshot.transcriptModified)
        s.settings = r.settings
        s.life = r.life
        s.headers = r.headers
        s.prompt = r.prompt
        s.context = Conversation(snapshot.context)
        s.history = History(snapshot.history)
        s.undoRecords = snapshot.undoRecords
        s.queue = snapshot.queue
        s.output = OutputBuffer(restoring: snapshot.output)
        s.errors = ErrorLog(restoring: snapshot.errors)
        s.transcript = snapshot.transcript
        s.messages = r.messages
        s.tokensIn = r.tokensIn
        s.tokensOut = r.tokensOut
        s.nextMessageID = max(r.nextMessageID, (snapshot.queue.map(\.id).max() ?? 0) + 1)
        state = Mutex(s)
        state.withLock { s in
            guard !s.history.covers(s.context, in: s.transcript) else { return }
            rebaseHistoryLocked(&s, because: "the stored history does not hold this context's turns (a store from before "
                                + "aifs kept one, or a snapshot of another transcript)")
        }
        if let interrupted = snapshot.interrupted {
            state.withLock { s in
                addErrorLocked(&s, "restart", "message \(interrupted) was in flight when the daemon stopped; "
                               + "its partial reply was discarded and it is answered again")
            }
        }
    }

    /// Starts answering the queue (after a restore).
    func resume() {
        let next = state.withLock { s in startNextLocked(&s) }
        launch(next)
    }

    // MARK: Reading state

    public var info: SocketInfo {
        state.withLock { s in
            SocketInfo(id: id, name: s.name, model: s.model, state: s.life, headers: s.headers, settings: s.settings,
                       created: s.created, lastActivity: s.lastActivity, queued: s.queue.count,
                       inFlight: s.current != nil, unreadBytes: s.output.unreadCount, messages: s.messages,
                       tokensIn: s.tokensIn, tokensOut: s.tokensOut, uid: s.uid, gid: s.gid, mode: s.mode,
                       promptSize: s.prompt.count, transcriptSize: s.transcript.count,
                       transcriptModified: s.transcriptModified, wire: s.wireName, lastLatency: s.lastLatency,
                       errorLines: s.errorLines)
        }
    }

    public var name: String { state.withLock { $0.name } }
    /// Messages waiting in the queue and reads of `output` parked until there is something to
    /// answer (for `/ai/metrics`), under one lock.
    public var waiting: (queued: Int, parkedReaders: Int) { state.withLock { ($0.queue.count, $0.readers.parkedCount) } }
    public var life: SocketState { state.withLock { $0.life } }

    /// The `key: value` text of `ctl`.
    public func controlText() -> String {
        let text = info.controlText(live: true)
        guard let agent = agentName else { return text }
        return text + environment.agents.statusLines(of: id, agent: agent).joined(separator: "\n") + "\n"
    }


    // MARK: Lifecycle

    /// Renames the socket (the registry checks the new name).
    func rename(to name: String) {
        state.withLock { s in
            let old = s.name
            s.name = name
            recordLocked(s, [.socketSaved(recordLocked(s)), memoryEvent(s, .event, "socket renamed from \(old) to \(name)")])
        }
    }

    /// Attribute changes on the socket directory (chmod/chown).
    func setOwnership(mode: UInt32?, uid: UInt32?, gid: UInt32?) {
        state.withLock { s in
            if let mode { s.mode = mode & 0o7777 }
            if let uid { s.uid = uid }
            if let gid { s.gid = gid }
            recordLocked(s, [.socketSaved(recordLocked(s))])
        }
    }

    /// The socket was deleted: stop work, drop the queue, end every parked read with end of
    /// file. Nothing is recorded after this (the registry records the removal itself).
    func close() {
        state.withLock { s in
            dropQueueLocked(&s, reason: "socket removed")
            if s.current != nil { endCurrentLocked(&s, .cancelled("socket removed")) }
            s.closed = true
            deliverLocked(&s)
        }
        agentInbox.end(failing: nil)
    }

    /// The daemon is stopping: stop work and fail every parked read with `EIO`. The request in
    /// flight stays queued in the store, so it is answered again after the restart.
    func shutdown() {
        state.withLock { s in
            s.closed = true
            if let work = s.current {
                work.cancelled = true
                work.task?.cancel()
                work.message.chat?.finish(failed: true)
                s.current = nil
                if work.launched { environment.counters.requestEnded(nil) }
            }
            for message in s.queue { message.chat?.finish(failed: true) }
            s.readers.fail(.EIO)
        }
        agentInbox.end(failing: .EIO)
    }

    static func errorLine(_ kind: String, _ message: String) -> String {
        "\(WallClock.iso8601(WallClock.now())) \(kind) \(message)"
    }
}

extension Socket {
    /// Whether its model is an agent's (`agent/NAME`): its own sandboxed program answers.
    public var isAgent: Bool { agentName != nil }
    /// The `[agents.NAME]` its model names, if it is an agent socket.
    public var agentName: String? {
        let model = state.withLock { $0.model }
        guard model.hasPrefix("agent/") else { return nil }
        return String(model.dropFirst(6))
    }
}
