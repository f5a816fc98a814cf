import FuseKit
import Synchronization

/// A socket's stable number; inode numbers are derived from it (see ``InodeScheme``).
public typealias SocketID = UInt64

/// A message accepted from `input`, as it is queued.
public struct InputMessage: Sendable {
    public var id: UInt64
    /// The message without its leading headers.
    public var content: [UInt8]
    public var headers: MessageHeaders
    public var uid: UInt32
    public var time: Double
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
}

/// One AI socket: its settings, conversation, queue, the request in flight and the streams
/// readers see (`output`, `error`, `transcript`).
///
/// All state sits behind one lock, held only for short, non-blocking steps, so FUSE handlers
/// can call in directly from the loop thread. The request in flight runs in a task that streams
/// the provider's reply back in through ``ReplySink``. Each socket answers its queue in order,
/// one request at a time; sockets run concurrently.
///
/// Readers of `output` that find nothing unread while a reply is pending are parked
/// (``PendingRequest``, no thread each) and answered by whoever appends, finishes or clears.
public final class Socket: @unchecked Sendable {
    public let id: SocketID
    let environment: SocketEnvironment
    private let state: Mutex<State>

    struct ParkedRead {
        let pending: PendingRequest
        let size: Int
    }

    /// The request in flight. Only the socket's lock touches it.
    final class Work: @unchecked Sendable {
        let message: InputMessage
        var task: Task<Void, Never>?
        var reply: [UInt8] = []
        var wroteHeader = false
        var cancelled = false
        init(message: InputMessage) { self.message = message }
    }

    enum Outcome {
        case completed
        case failed(String)
        case cancelled(String)
    }

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
        var closed = false

        /// A reply that will land in `output` is queued or in flight.
        var isPending: Bool { !queue.isEmpty || current != nil || committing > 0 }
        /// A read would not block.
        var isReadable: Bool { !output.isEmpty || !isPending }
    }

    init(id: SocketID, name: String, model: String, uid: UInt32, gid: UInt32, mode: UInt32, environment: SocketEnvironment) {
        self.id = id
        self.environment = environment
        let now = WallClock.now()
        state = Mutex(State(name: name, model: model, created: now, lastActivity: now, uid: uid, gid: gid,
                            mode: mode, transcriptModified: now))
    }

    // MARK: Reading state

    public var info: SocketInfo {
        state.withLock { s in
            SocketInfo(id: id, name: s.name, model: s.model, state: s.life, headers: s.headers, settings: s.settings,
                       created: s.created, lastActivity: s.lastActivity, queued: s.queue.count,
                       inFlight: s.current != nil, unreadBytes: s.output.unreadCount, messages: s.messages,
                       tokensIn: s.tokensIn, tokensOut: s.tokensOut, uid: s.uid, gid: s.gid, mode: s.mode,
                       promptSize: s.prompt.count, transcriptSize: s.transcript.count,
                       transcriptModified: s.transcriptModified)
        }
    }

    public var name: String { state.withLock { $0.name } }

    /// The `key: value` text of `ctl`.
    public func controlText() -> String {
        let i = info
        var lines = [
            "name: \(i.name)",
            "model: \(i.model)",
            "state: \(i.state.rawValue)",
            "created: \(WallClock.iso8601(i.created))",
            "last-activity: \(WallClock.iso8601(i.lastActivity))",
            "queued: \(i.queued)",
            "in-flight: \(i.inFlight ? 1 : 0)",
            "unread-bytes: \(i.unreadBytes)",
            "messages: \(i.messages)",
            "tokens-in: \(i.tokensIn)",
            "tokens-out: \(i.tokensOut)",
            "wire: -",
            "headers: \(i.headers ? "on" : "off")",
            "owner: \(i.uid):\(i.gid)",
        ]
        for setting in Setting.allCases {
            if let value = i.settings[setting] { lines.append("\(setting.rawValue): \(value)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Input

    /// Refuses input to an unresponsive socket (`EHOSTDOWN`), reason in `error`.
    public func checkAcceptsInput() throws(SocketError) {
        let refusal: SocketError? = state.withLock { s in
            guard s.life == .unresponsive else { return nil }
            let error = SocketError(.EHOSTDOWN, "socket is unresponsive; write 'state active' to ctl to use it again")
            s.errors.add(Self.errorLine("input", error.reason))
            return error
        }
        if let refusal { throw refusal }
    }

    /// Checks that another message fits in the queue (`EAGAIN` otherwise).
    public func checkQueueRoom() throws(SocketError) {
        let limit = environment.limits.maxQueue
        let refusal: SocketError? = state.withLock { s in
            guard s.queue.count + s.committing + (s.current == nil ? 0 : 1) >= limit else { return nil }
            let error = SocketError(.EAGAIN, "queue full (\(limit) unanswered messages)")
            s.errors.add(Self.errorLine("input", error.reason))
            return error
        }
        if let refusal { throw refusal }
    }

    /// Accepts one message (all bytes of one open → close): parses its headers, commits it to
    /// the store and queues it. `done` is called once it is durable (or refused).
    public func submit(_ bytes: [UInt8], uid: UInt32, done: @escaping @Sendable (Errno?) -> Void) {
        let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
        let admitted: Result<InputMessage, SocketError> = state.withLock { s in
            if s.closed { return .failure(SocketError(.ENOENT, "socket was removed")) }
            if s.life == .unresponsive {
                let error = SocketError(.EHOSTDOWN, "socket is unresponsive; message not queued")
                s.errors.add(Self.errorLine("input", error.reason))
                return .failure(error)
            }
            let limit = environment.limits.maxQueue
            if s.queue.count + s.committing + (s.current == nil ? 0 : 1) >= limit {
                let error = SocketError(.EAGAIN, "queue full (\(limit) unanswered messages); message not queued")
                s.errors.add(Self.errorLine("input", error.reason))
                return .failure(error)
            }
            s.committing += 1
            defer { s.nextMessageID += 1 }
            return .success(InputMessage(id: s.nextMessageID, content: content, headers: headers, uid: uid, time: WallClock.now()))
        }
        switch admitted {
        case .failure(let error):
            done(error.errno)
        case .success(let message):
            environment.store.commit(message, to: id) { [self] error in
                self.committed(message, error: error)
                done(error)
            }
        }
    }

    private func committed(_ message: InputMessage, error: Errno?) {
        let next: Work? = state.withLock { s in
            s.committing -= 1
            guard error == nil, !s.closed else {
                if let error { s.errors.add(Self.errorLine("store", "message not stored: \(error)")) }
                deliverLocked(&s)
                return nil
            }
            if message.headers.priorityHigh {
                let index = s.queue.firstIndex(where: { !$0.headers.priorityHigh }) ?? s.queue.count
                s.queue.insert(message, at: index)
            } else {
                s.queue.append(message)
            }
            s.messages += 1
            s.lastActivity = message.time
            var header = "[team-chat-to-\(s.name)]"
            if message.headers.priorityHigh { header += " [priority-high]" }
            appendTranscriptLocked(&s, header: "\(header) \(WallClock.iso8601(message.time)) uid=\(message.uid) id=\(message.id)",
                                   body: message.content)
            environment.counters.messageQueued()
            return startNextLocked(&s)
        }
        launch(next)
    }

    // MARK: The request in flight

    /// Takes the next queued message as the work in flight, if idle. Launch what it returns
    /// after releasing the lock.
    private func startNextLocked(_ s: inout State) -> Work? {
        guard s.current == nil, !s.closed, !s.queue.isEmpty else { return nil }
        let work = Work(message: s.queue.removeFirst())
        s.current = work
        return work
    }

    private func launch(_ work: Work?) {
        guard let work else { return }
        environment.counters.requestStarted()
        let task = Task.detached { [self] in await self.run(work) }
        state.withLock { _ in
            if work.cancelled { task.cancel() } else { work.task = task }
        }
    }

    private func run(_ work: Work) async {
        let prepared: (ProviderRequest, any Provider, Double?)? = state.withLock { s in
            guard s.current === work else { return nil }
            guard let (provider, model) = environment.catalog().resolve(s.model) else { return nil }
            let turns = s.context + [Turn(role: .user, content: work.message.content)]
            let timeout = s.settings[.timeout].flatMap(Double.init)
            return (ProviderRequest(model: model, systemPrompt: s.prompt, turns: turns, settings: s.settings), provider, timeout)
        }
        guard let (request, provider, timeout) = prepared else {
            finish(work, .failed("model is not configured"))
            return
        }
        let sink = WorkSink(socket: self, work: work)
        do {
            if let timeout {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await provider.respond(to: request, into: sink) }
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
                        throw ProviderError("timed out after \(timeout)s")
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } else {
                try await provider.respond(to: request, into: sink)
            }
            finish(work, .completed)
        } catch is CancellationError {
            finish(work, .cancelled("request cancelled"))
        } catch {
            finish(work, .failed("\(error)"))
        }
    }

    /// Streams reply text from the work in flight into `output`.
    func appendReply(_ work: Work, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        state.withLock { s in
            guard s.current === work else { return }
            writeReplyHeaderLocked(&s, work)
            s.output.append(bytes)
            work.reply.append(contentsOf: bytes)
            deliverLocked(&s)
        }
    }

    func appendReasoning(_ work: Work, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        state.withLock { s in
            guard s.current === work, s.headers else { return }
            writeReplyHeaderLocked(&s, work)
            s.output.append(Array("[thinking] ".utf8))
            s.output.append(bytes)
            if bytes.last != 0x0A { s.output.append([0x0A]) }
            deliverLocked(&s)
        }
    }

    func addUsage(_ work: Work, input: Int, output: Int) {
        state.withLock { s in
            guard s.current === work else { return }
            s.tokensIn += input
            s.tokensOut += output
        }
    }

    private func writeReplyHeaderLocked(_ s: inout State, _ work: Work) {
        guard !work.wroteHeader else { return }
        work.wroteHeader = true
        if s.headers { s.output.append(Array("[team-chat-from-\(s.name)]\n".utf8)) }
    }

    /// Ends the work in flight (if it still is) and starts the next message.
    func finish(_ work: Work, _ outcome: Outcome) {
        let next: Work? = state.withLock { s in
            guard s.current === work else { return nil }
            endCurrentLocked(&s, outcome)
            return startNextLocked(&s)
        }
        launch(next)
    }

    private func endCurrentLocked(_ s: inout State, _ outcome: Outcome) {
        guard let work = s.current else { return }
        s.current = nil
        work.cancelled = true
        work.task?.cancel()
        environment.counters.requestEnded()
        let now = WallClock.now()
        s.lastActivity = now
        switch outcome {
        case .completed:
            writeReplyHeaderLocked(&s, work)
            if work.reply.last != 0x0A { s.output.append([0x0A]) }
            s.context.append(Turn(role: .user, content: work.message.content))
            s.context.append(Turn(role: .assistant, content: work.reply))
            appendTranscriptLocked(&s, header: "[team-chat-from-\(s.name)] \(WallClock.iso8601(now)) id=\(work.message.id)", body: work.reply)
            environment.store.record(.replyCompleted(id, messageID: work.message.id))
        case .failed(let reason):
            if !work.reply.isEmpty, work.reply.last != 0x0A { s.output.append([0x0A]) }
            s.output.appendFailure()
            let line = Self.errorLine("request", "message \(work.message.id) failed: \(reason)")
            s.errors.add(line)
            appendTranscriptLocked(&s, header: "[error] \(WallClock.iso8601(now)) id=\(work.message.id)", body: Array(reason.utf8))
        case .cancelled(let reason):
            if !work.reply.isEmpty, work.reply.last != 0x0A { s.output.append([0x0A]) }
            s.errors.add(Self.errorLine("request", "message \(work.message.id) cancelled: \(reason)"))
            appendTranscriptLocked(&s, header: "[cancelled] \(WallClock.iso8601(now)) id=\(work.message.id)", body: Array(reason.utf8))
        }
        deliverLocked(&s)
    }

    // MARK: output

    /// Answers a `read` of `output`: unread bytes now; `EIO` once after a failed request;
    /// `EAGAIN` (non-blocking) or parked while a reply is pending; otherwise end of file.
    public func readOutput(_ request: consuming Request, size: Int, nonBlocking: Bool) {
        enum Decision { case answer(OutputBuffer.ReadResult), park }
        let decision: Decision = state.withLock { s in
            let result = s.output.read(max: size)
            if result != .nothing { return .answer(result) }
            return s.isPending && !s.closed ? .park : .answer(.nothing)
        }
        switch decision {
        case .answer(let result):
            Self.answer(request, with: result)
        case .park:
            if nonBlocking {
                request.reply(error: .EAGAIN)
                return
            }
            // Created outside the lock: an interrupt that already arrived runs onInterrupt now.
            let pending = PendingRequest(request, interruptible: true, onInterrupt: { [weak self] in
                self?.dropParked()
            })
            state.withLock { s in
                s.parkedReads.append(ParkedRead(pending: pending, size: size))
                deliverLocked(&s)  // data may have arrived meanwhile
            }
        }
    }

    private func dropParked() {
        state.withLock { s in s.parkedReads.removeAll { !$0.pending.isWaiting } }
    }

    private static func answer(_ request: consuming Request, with result: OutputBuffer.ReadResult) {
        switch result {
        case .bytes(let bytes): request.reply(bytes: bytes)
        case .failure: request.reply(error: .EIO)
        case .nothing: request.reply(bytes: [])
        }
    }

    /// Hands unread output (or end of file) to parked readers in arrival order, and wakes
    /// pollers when a read would not block. Replying under the lock is safe: an interrupt
    /// callback only takes this lock after it has claimed its own request.
    private func deliverLocked(_ s: inout State) {
        while let first = s.parkedReads.first {
            if !s.output.isEmpty {
                guard let request = first.pending.take() else { s.parkedReads.removeFirst(); continue }
                s.parkedReads.removeFirst()
                Self.answer(request, with: s.output.read(max: first.size))
            } else if !s.isPending || s.closed {
                s.parkedReads.removeFirst()
                first.pending.take()?.reply(bytes: [])
            } else {
                break
            }
        }
        if s.isReadable, !s.pollHandles.isEmpty {
            for handle in s.pollHandles.values { handle.notify() }
            s.pollHandles.removeAll()
        }
    }

    /// Current `poll` readiness of `output`; keeps `handle` (newest per open file, keyed by
    /// `owner`) to notify when it becomes readable.
    public func pollOutput(owner: AnyObject, handle: PollHandle?) -> PollEvents {
        state.withLock { s in
            if s.isReadable { return .readable }
            if let handle { s.pollHandles[ObjectIdentifier(owner)] = handle }
            return []
        }
    }

    /// Forgets the poll handle of an open file that is being released.
    public func forgetPoll(owner: AnyObject) {
        _ = state.withLock { $0.pollHandles.removeValue(forKey: ObjectIdentifier(owner)) }
    }

    // MARK: error, transcript, prompt

    /// Consumes up to `size` bytes of unread error lines; empty at the end (never blocks).
    public func readErrors(max size: Int) -> [UInt8] {
        state.withLock { $0.errors.read(max: size) }
    }

    /// Adds a line to `error` (`TIME KIND message`).
    public func reportError(kind: String, _ message: String) {
        state.withLock { $0.errors.add(Self.errorLine(kind, message)) }
    }

    /// Transcript bytes at `offset` (regular-file semantics; append-only).
    public func readTranscript(offset: Int, size: Int) -> [UInt8] {
        state.withLock { s in
            guard offset < s.transcript.count else { return [] }
            return Array(s.transcript[offset..<min(s.transcript.count, offset + size)])
        }
    }

    private func appendTranscriptLocked(_ s: inout State, header: String, body: [UInt8]) {
        s.transcript.append(contentsOf: header.utf8)
        s.transcript.append(0x0A)
        s.transcript.append(contentsOf: body)
        if body.last != 0x0A { s.transcript.append(0x0A) }
        s.transcriptModified = WallClock.now()
        environment.store.record(.transcriptAppended(id, bytes: s.transcript.count))
    }

    public var prompt: [UInt8] { state.withLock { $0.prompt } }

    public func setPrompt(_ bytes: [UInt8]) throws(SocketError) {
        let limit = environment.limits.maxPromptBytes
        guard bytes.count <= limit else {
            reportError(kind: "prompt", "prompt over \(limit) bytes refused")
            throw SocketError(.EFBIG, "prompt over \(limit) bytes")
        }
        state.withLock { s in
            s.prompt = bytes
            s.lastActivity = WallClock.now()
        }
        environment.store.record(.settingsChanged(id))
    }

    // MARK: ctl

    /// Applies ctl commands, all or nothing: every command is checked before any is applied.
    public func apply(_ commands: [ControlCommand]) throws(SocketError) {
        let catalog = environment.catalog()
        for command in commands {
            if case .model(let model) = command, !catalog.contains(model) {
                let error = SocketError(.EINVAL, "unknown model '\(model.prefix(100))' (see /ai/models)")
                reportError(kind: "ctl", error.reason)
                throw error
            }
        }
        for command in commands { apply(command) }
        environment.store.record(.settingsChanged(id))
    }

    /// Reports a refused ctl line in `error`.
    public func reportRefused(_ error: ControlError) {
        reportError(kind: "ctl", error.reason)
    }

    private func apply(_ command: ControlCommand) {
        var next: Work?
        state.withLock { s in
            s.lastActivity = WallClock.now()
            switch command {
            case .model(let model): s.model = model
            case .set(let setting, let value): s.settings[setting] = value
            case .headers(let on): s.headers = on
            case .state(let life):
                if s.life != life { s.errors.add(Self.errorLine("state", "\(s.life.rawValue) -> \(life.rawValue)")) }
                s.life = life
            case .cancel:
                if s.current != nil {
                    endCurrentLocked(&s, .cancelled("cancelled by ctl"))
                    next = startNextLocked(&s)
                }
            case .reset:
                let dropped = s.queue.count
                s.queue.removeAll()
                if s.current != nil { endCurrentLocked(&s, .cancelled("reset")) }
                s.output.removeAll()
                s.context.removeAll()
                appendTranscriptLocked(&s, header: "[reset] \(WallClock.iso8601(WallClock.now()))",
                                       body: Array("queue (\(dropped)), unread output and context cleared".utf8))
                deliverLocked(&s)
            }
        }
        launch(next)
    }

    // MARK: Lifecycle

    /// Renames the socket (the registry checks the new name).
    func rename(to name: String) {
        state.withLock { $0.name = name }
    }

    /// Attribute changes on the socket directory (chmod/chown).
    func setOwnership(mode: UInt32?, uid: UInt32?, gid: UInt32?) {
        state.withLock { s in
            if let mode { s.mode = mode & 0o7777 }
            if let uid { s.uid = uid }
            if let gid { s.gid = gid }
        }
        environment.store.record(.settingsChanged(id))
    }

    /// The socket was deleted: stop work, drop the queue, end every parked read with end of file.
    func close() {
        state.withLock { s in
            s.closed = true
            s.queue.removeAll()
            if s.current != nil { endCurrentLocked(&s, .cancelled("socket removed")) }
            deliverLocked(&s)
        }
    }

    /// The daemon is stopping: stop work and fail every parked read with `EIO`.
    func shutdown() {
        state.withLock { s in
            s.closed = true
            if let work = s.current {
                work.cancelled = true
                work.task?.cancel()
                s.current = nil
                environment.counters.requestEnded()
            }
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

/// The reply sink a provider writes into for one request.
struct WorkSink: ReplySink {
    let socket: Socket
    let work: Socket.Work
    func text(_ bytes: [UInt8]) { socket.appendReply(work, bytes) }
    func reasoning(_ bytes: [UInt8]) { socket.appendReasoning(work, bytes) }
    func usage(input: Int, output: Int) { socket.addUsage(work, input: input, output: output) }
}
