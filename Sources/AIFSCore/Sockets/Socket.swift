import FuseKit
import Synchronization

/// A socket's stable number; inode numbers are derived from it (see ``InodeScheme``).
public typealias SocketID = UInt64

/// A message accepted from `input` (or `chat`, `team-chat-all/input`, a wire), as it is queued.
public struct InputMessage: Sendable {
    public var id: UInt64
    /// The message without its leading headers.
    public var content: [UInt8]
    public var headers: MessageHeaders
    public var uid: UInt32
    public var time: Double
    /// Where its reply goes: `output` (or down the wire), a `chat` descriptor, or the team chat.
    public var route: ReplyRoute

    public init(id: UInt64, content: [UInt8], headers: MessageHeaders, uid: UInt32, time: Double, route: ReplyRoute = .output) {
        self.id = id
        self.content = content
        self.headers = headers
        self.uid = uid
        self.time = time
        self.route = route
    }

    /// Set for a message written to `chat`: its reply goes to that descriptor only, and the
    /// message is not kept in the store's queue (the descriptor does not survive a restart).
    public var chat: ChatStream? { route.chat }
}

/// Where a message came from: it decides the transcript header and the memory entry.
enum MessageOrigin {
    /// The socket's own `input`.
    case input
    /// A `chat` descriptor.
    case chat
    /// `team-chat-all/input`: to every active socket, or to the ones named in headers.
    case team(broadcast: Bool)
    /// The moderator's synthesis request at the end of a team-chat round.
    case synthesis
    /// A finished reply of the socket wired into this one.
    case wire(from: String)
}

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
    /// mean something now (`in-flight`) are left out.
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
        for setting in Setting.allCases {
            if let value = settings[setting] { lines.append("\(setting.rawValue): \(value)") }
        }
        return lines.joined(separator: "\n") + "\n"
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

    struct ParkedRead {
        let pending: PendingRequest
        let size: Int
        /// With the Redis backend, a read about to get end of file first waits until this
        /// daemon has applied everything in the log (a write that finished elsewhere is seen).
        var awaitingCatchUp = false
    }

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
        /// The socket this reply goes to instead of `output` (the wire in force when it started).
        let forwardTo: Socket?
        init(message: InputMessage, forwardTo: Socket?) {
            self.message = message
            self.forwardTo = forwardTo
        }
    }

    enum Outcome {
        case completed
        case failed(String)
        case cancelled(String)
    }

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
        var context: [Turn] = []
        var queue: [InputMessage] = []
        /// Messages accepted but not yet committed by the store (they count against the limit).
        var committing = 0
        /// Of those, the ones whose reply will land in `output` (or go down the wire).
        var committingOutput = 0
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
        var parkedReads: [ParkedRead] = []
        var pollHandles: [ObjectIdentifier: PollHandle] = [:]
        var errors = ErrorLog()
        var transcript: [UInt8] = []
        var transcriptModified: Double
        var messages = 0
        var tokensIn = 0
        var tokensOut = 0
        var nextMessageID: UInt64 = 1
        /// Failed requests in a row (a success resets it); at the limit the socket becomes unresponsive.
        var consecutiveFailures = 0
        /// Removed or shut down: no more work, and nothing more is recorded.
        var closed = false

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
        s.context = snapshot.context
        s.queue = snapshot.queue
        s.output = OutputBuffer(restoring: snapshot.output)
        s.errors = ErrorLog(restoring: snapshot.errors)
        s.transcript = snapshot.transcript
        s.messages = r.messages
        s.tokensIn = r.tokensIn
        s.tokensOut = r.tokensOut
        s.nextMessageID = max(r.nextMessageID, (snapshot.queue.map(\.id).max() ?? 0) + 1)
        state = Mutex(s)
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
                       transcriptModified: s.transcriptModified, wire: s.wireName)
        }
    }

    public var name: String { state.withLock { $0.name } }
    public var life: SocketState { state.withLock { $0.life } }

    /// The `key: value` text of `ctl`.
    public func controlText() -> String { info.controlText(live: true) }

    // MARK: Input

    /// Refuses input to an unresponsive socket (`EHOSTDOWN`), reason in `error`.
    public func checkAcceptsInput() throws(SocketError) {
        let refusal: SocketError? = state.withLock { s in
            guard s.life == .unresponsive else { return nil }
            let error = SocketError(.EHOSTDOWN, "socket is unresponsive; write 'state active' to ctl to use it again")
            addErrorLocked(&s, "input", error.reason)
            return error
        }
        if let refusal { throw refusal }
    }

    /// Checks that another message fits in the queue (`EAGAIN` otherwise).
    public func checkQueueRoom() throws(SocketError) {
        let limit = environment.limits.maxQueue
        let refusal: SocketError? = state.withLock { s in
            guard s.unanswered >= limit else { return nil }
            let error = SocketError(.EAGAIN, "queue full (\(limit) unanswered messages)")
            addErrorLocked(&s, "input", error.reason)
            return error
        }
        if let refusal { throw refusal }
    }

    /// Accepts one message (all bytes of one open → close): parses its headers, writes its
    /// transcript entry and commits it to the store; it joins the queue once committed. `done`
    /// is called then (or at once when refused), never on the caller's thread for a commit.
    public func submit(_ bytes: [UInt8], uid: UInt32, done: @escaping @Sendable (Errno?) -> Void) {
        let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
        if content.isEmpty {
            reportError(kind: "input", "the message has headers but no content; nothing was queued")
            return done(.EINVAL)
        }
        if let refusal = accept(content, headers: headers, uid: uid, route: .output, origin: .input, done: done) { done(refusal) }
    }

    /// Accepts a message written to `chat`: queued at once (not kept in the store's queue),
    /// its reply streamed into `chat` only. The exchange still enters the transcript, the
    /// context and memory. `EHOSTDOWN`, `EAGAIN`, `ENOENT` as for `input`.
    public func submitChat(_ bytes: [UInt8], uid: UInt32, into chat: ChatStream) -> Errno? {
        let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
        if content.isEmpty {
            reportError(kind: "chat", "the message has headers but no content; nothing was sent")
            return .EINVAL
        }
        return accept(content, headers: headers, uid: uid, route: .chat(chat), origin: .chat, done: nil)
    }

    /// Accepts one member's copy of a team-chat message (headers already parsed by the team
    /// chat); its reply goes to `team-chat-all/output`. Committed like `input`; `done` as there.
    func submitTeam(_ content: [UInt8], priorityHigh: Bool, uid: UInt32, ticket: TeamTicket, broadcast: Bool,
                    done: @escaping @Sendable (Errno?) -> Void) {
        if let refusal = accept(content, headers: MessageHeaders(priorityHigh: priorityHigh), uid: uid, route: .team(ticket),
                                origin: ticket.synthesis ? .synthesis : .team(broadcast: broadcast), done: done) {
            done(refusal)
        }
    }

    /// Accepts a finished reply of the socket wired into this one, as a new message. It is
    /// content only (a model's text is never parsed for headers), recorded, and queued at once.
    /// Nil, or why it was refused (the reason is also in this socket's `error`).
    func acceptForwarded(_ content: [UInt8], from source: String, uid: UInt32) -> Errno? {
        accept(content, headers: MessageHeaders(), uid: uid, route: .output, origin: .wire(from: source), done: nil)
    }

    /// A message from the cluster log (Redis backend), applied on every daemon alike: queued at
    /// once. Nil, or why it was refused (the reason is in `error` on every daemon).
    func applySubmit(_ content: [UInt8], priorityHigh: Bool, uid: UInt32, route: ReplyRoute, origin: MessageOrigin) -> Errno? {
        if content.isEmpty {
            reportError(kind: origin.kind, "the message has headers but no content; nothing was queued")
            return .EINVAL
        }
        return accept(content, headers: MessageHeaders(priorityHigh: priorityHigh), uid: uid, route: route, origin: origin, done: nil)
    }

    /// The one way into the queue. Checks admission, writes the transcript entry and records
    /// the message. Returns why it was refused (then `done` is not called). Messages from
    /// `input` and the team chat join the queue once the store has committed them (`done`
    /// then, from the store's thread); `chat` and wire messages join at once.
    @discardableResult
    private func accept(_ content: [UInt8], headers: MessageHeaders, uid: UInt32, route: ReplyRoute, origin: MessageOrigin,
                        done: (@Sendable (Errno?) -> Void)?) -> Errno? {
        // With the Redis backend the log entry being applied is the durable copy: queue at once.
        var immediate = environment.cluster != nil
        switch origin {
        case .chat, .wire: immediate = true
        case .input, .team, .synthesis: break
        }
        let outcome: (refusal: Errno?, next: Work?) = state.withLock { s in
            if let refusal = admitLocked(&s, from: origin.kind) { return (refusal, nil) }
            let message = InputMessage(id: s.nextMessageID, content: content, headers: headers, uid: uid,
                                       time: WallClock.now(), route: route)
            s.nextMessageID += 1
            s.messages += 1
            s.lastActivity = message.time
            let entry = transcriptEntry(header: origin.transcriptHeader(socket: s.name, message), body: message.content)
            appendTranscriptLocked(&s, entry, record: false)
            var events: [StoreEvent] = []
            if route.chat == nil { events.append(.messageQueued(id, message)) }
            events += [.transcriptAppended(id, entry), .socketSaved(recordLocked(s))]
            if let memory = origin.memoryMetadata(message) {
                events.append(.memory(MemoryEntry(time: message.time, socket: s.name, kind: .input,
                                                  content: String(decoding: message.content, as: UTF8.self), metadata: memory)))
            }
            if immediate {
                recordLocked(s, events)
                enqueueLocked(&s, message)
                return (nil, startNextLocked(&s))
            }
            s.committing += 1
            if route.isOutput { s.committingOutput += 1 }
            environment.store.record(events) { [self] error in
                committed(message, error: error)
                done?(error)
            }
            return (nil, nil)
        }
        launch(outcome.next)
        return outcome.refusal
    }

    /// Why a new message cannot be accepted now (removed, unresponsive, queue full), said in
    /// `error` under `kind`; nil if it can.
    private func admitLocked(_ s: inout State, from kind: String) -> Errno? {
        if s.closed { return .ENOENT }
        if s.life == .unresponsive {
            addErrorLocked(&s, kind, "socket is unresponsive; message not queued")
            return .EHOSTDOWN
        }
        let limit = environment.limits.maxQueue
        if s.unanswered >= limit {
            addErrorLocked(&s, kind, "queue full (\(limit) unanswered messages); message not queued")
            return .EAGAIN
        }
        return nil
    }

    /// Queues a message: `[priority-high]` ones go behind other high-priority messages, ahead
    /// of the rest (never ahead of the request in flight).
    private func enqueueLocked(_ s: inout State, _ message: InputMessage) {
        if message.headers.priorityHigh {
            let index = s.queue.firstIndex(where: { !$0.headers.priorityHigh }) ?? s.queue.count
            s.queue.insert(message, at: index)
        } else {
            s.queue.append(message)
        }
        environment.counters.messageQueued()
    }

    /// Drops every queued message: chat readers get end of file, team rounds hear `reason`.
    func dropQueueLocked(_ s: inout State, reason: String) {
        for message in s.queue {
            message.chat?.finish()
            if let ticket = message.route.team { ticket.team?.memberFinished(ticket, socket: id, name: s.name, .cancelled(reason)) }
        }
        s.queue.removeAll()
    }

    /// The store has committed (or failed to commit) a message: queue it and start work.
    private func committed(_ message: InputMessage, error: Errno?) {
        let next: Work? = state.withLock { s in
            s.committing -= 1
            if message.route.isOutput { s.committingOutput -= 1 }
            guard error == nil, !s.closed else {
                if let error, !s.closed {
                    addErrorLocked(&s, "store", "message \(message.id) not stored (\(error)); it was not queued")
                    if let ticket = message.route.team {
                        ticket.team?.memberFinished(ticket, socket: id, name: s.name, .failed("message not stored (\(error))"))
                    }
                }
                deliverLocked(&s)
                return nil
            }
            enqueueLocked(&s, message)
            return startNextLocked(&s)
        }
        launch(next)
    }

    /// The team chat gave up on `round` (timeout): its message here is cancelled, in flight or
    /// queued, and says so in `error` and the transcript.
    func cancelTeamMessage(round: UInt64, reason: String) {
        let next: Work? = state.withLock { s in
            if let work = s.current, work.message.route.team?.round == round {
                endCurrentLocked(&s, .cancelled(reason))
                return startNextLocked(&s)
            }
            guard let index = s.queue.firstIndex(where: { $0.route.team?.round == round }) else { return nil }
            let message = s.queue.remove(at: index)
            addErrorLocked(&s, "request", "message \(message.id) cancelled: \(reason)")
            let entry = transcriptEntry(header: "[cancelled] \(WallClock.iso8601(WallClock.now())) id=\(message.id)", body: Array(reason.utf8))
            appendTranscriptLocked(&s, entry, record: false)
            recordLocked(s, [.transcriptAppended(id, entry), .requestEnded(id, messageID: message.id)])
            return nil
        }
        launch(next)
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
                if work.launched { environment.counters.requestEnded() }
            }
            for message in s.queue { message.chat?.finish(failed: true) }
            while !s.parkedReads.isEmpty {
                s.parkedReads.removeFirst().pending.take()?.reply(error: .EIO)
            }
            for handle in s.pollHandles.values { handle.notify() }
            s.pollHandles.removeAll()
        }
    }

    static func errorLine(_ kind: String, _ message: String) -> String {
        "\(WallClock.iso8601(WallClock.now())) \(kind) \(message)"
    }
}

extension MessageOrigin {
    /// The `KIND` of `error` lines about this message.
    var kind: String {
        switch self {
        case .input: return "input"
        case .chat: return "chat"
        case .team, .synthesis: return "team"
        case .wire: return "wire"
        }
    }

    /// The transcript header line of the message (`docs/file-protocol.md`, "`transcript`").
    func transcriptHeader(socket: String, _ message: InputMessage) -> String {
        var tokens: [String]
        switch self {
        case .input: tokens = ["[team-chat-to-\(socket)]"]
        case .chat: tokens = ["[team-chat-to-\(socket)]", "[chat]"]
        case .team(let broadcast): tokens = [broadcast ? "[broadcast]" : "[team-chat-to-\(socket)]"]
        case .synthesis: tokens = ["[team-chat-to-\(socket)]", "[synthesis]"]
        case .wire(let source): tokens = ["[team-chat-to-\(socket)]", "[team-chat-from-\(source)]"]
        }
        if message.headers.priorityHigh { tokens.append("[priority-high]") }
        tokens.append(WallClock.iso8601(message.time))
        if case .wire = self {} else { tokens.append("uid=\(message.uid)") }
        tokens.append("id=\(message.id)")
        if let ticket = message.route.team { tokens.append("round=\(ticket.round)") }
        return tokens.joined(separator: " ")
    }

    /// The metadata of the message's memory entry; nil where the team chat keeps one entry for
    /// the whole round instead of one per member.
    func memoryMetadata(_ message: InputMessage) -> [String: String]? {
        var metadata = ["message": "\(message.id)", "uid": "\(message.uid)"]
        if message.headers.priorityHigh { metadata["priority"] = "high" }
        switch self {
        case .input: break
        case .chat: metadata["via"] = "chat"
        case .team: return nil
        case .synthesis: metadata["via"] = "synthesis"
        case .wire(let source): metadata["via"] = "wire from \(source)"
        }
        return metadata
    }
}
