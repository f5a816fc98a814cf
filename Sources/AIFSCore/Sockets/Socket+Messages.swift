import FuseKit
import Synchronization

/// The way in: messages posted from `input` and `chat`, and applied from the log into the
/// queue (admission, transcript, store commit), plus the team chat's cancellations.
extension Socket {

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

    /// A message written to `input` (all bytes of one open → close): its headers parsed, then
    /// posted to the log as a ``Change/submit(socket:content:priorityHigh:uid:route:kind:)``.
    /// Applying it writes its transcript entry and commits it; it joins the queue then, and
    /// `done` is called (never on the caller's thread for a commit). `EINVAL` for headers with
    /// no content; `EIO` when the log cannot take it (the reason is in `error`).
    public func submit(_ bytes: [UInt8], uid: UInt32, done: @escaping @Sendable (Errno?) -> Void) {
        let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
        if content.isEmpty {
            reportError(kind: "input", "the message has headers but no content; nothing was queued")
            return done(.EINVAL)
        }
        let log = environment.log
        let change = Change.submit(socket: id, content: content, priorityHigh: headers.priorityHigh, uid: uid, route: .output, kind: .input)
        log.post(change) { [self] result in
            let error = result.errno
            if error == .EIO, let reason = log.unavailableReason {
                reportError(kind: "store", "redis unreachable (\(reason)); the message was not stored, send it again")
            }
            done(error)
        }
    }

    /// A message written to `chat`: posted like `input`, its reply streamed into `stream`
    /// only (it is not kept in the store's queue). The exchange still enters the transcript,
    /// the context and memory. Nil, or why it was refused at once (`EINVAL`, `EHOSTDOWN`,
    /// `EAGAIN`, `ENOENT`); a refusal that comes later ends the stream with `EIO`.
    public func submitChat(_ bytes: [UInt8], uid: UInt32, into stream: ChatStream) -> Errno? {
        let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
        if content.isEmpty {
            reportError(kind: "chat", "the message has headers but no content; nothing was sent")
            return .EINVAL
        }
        let log = environment.log
        let token = environment.chats.register(stream)
        let answer = ImmediateAnswer()
        log.post(.submit(socket: id, content: content, priorityHigh: headers.priorityHigh, uid: uid,
                         route: .chat(origin: log.id, token: token), kind: .chat)) { [environment] result in
            guard let error = result.errno else { return }
            _ = environment.chats.take(token)
            if !answer.give(error) { stream.finish(failed: true) }
        }
        return answer.close()
    }

    /// Accepts a finished reply of the socket wired into this one, as a new message. It is
    /// content only (a model's text is never parsed for headers), recorded, and queued at once.
    /// Nil, or why it was refused (the reason is also in this socket's `error`).
    func acceptForwarded(_ content: [UInt8], from source: String, uid: UInt32) -> Errno? {
        accept(content, headers: MessageHeaders(), uid: uid, route: .output, origin: .wire(from: source), done: nil)
    }

    /// Applies a logged message (see ``Applier``). `durable`: the log is the durable copy, so
    /// it joins the queue at once; otherwise a message from `input` or the team chat joins once
    /// the store has committed it. `done` then, or at once with the refusal (the reason is in
    /// `error`).
    func applySubmit(_ content: [UInt8], priorityHigh: Bool, uid: UInt32, route: ReplyRoute, origin: MessageOrigin,
                     durable: Bool, done: @escaping @Sendable (Errno?) -> Void) {
        if content.isEmpty {
            reportError(kind: origin.kind, "the message has headers but no content; nothing was queued")
            return done(.EINVAL)
        }
        var waits = !durable
        switch origin {
        case .chat, .wire: waits = false  // never kept in the store's queue
        case .input, .team, .synthesis: break
        }
        if let refusal = accept(content, headers: MessageHeaders(priorityHigh: priorityHigh), uid: uid, route: route,
                                origin: origin, done: waits ? done : nil) {
            return done(refusal)
        }
        if !waits { done(nil) }
    }

    /// The one way into the queue. Checks admission, writes the transcript entry and records
    /// the message. Returns why it was refused (then `done` is not called). With `done` the
    /// message joins the queue once the store has committed it (`done` then, from the store's
    /// thread), or at once when the store acknowledges at once (`done` before returning, with
    /// no lock held); without, at once.
    @discardableResult
    func accept(_ content: [UInt8], headers: MessageHeaders, uid: UInt32, route: ReplyRoute, origin: MessageOrigin,
                        done: (@Sendable (Errno?) -> Void)?) -> Errno? {
        let immediate = done == nil || environment.store.acknowledgesAtOnce
        let outcome: (refusal: Errno?, next: Work?) = state.withLock { s in
            if let refusal = admitLocked(&s, from: origin.kind) { return (refusal, nil) }
            var message = InputMessage(id: s.nextMessageID, content: content, headers: headers, uid: uid,
                                       time: WallClock.now(), route: route)
            s.nextMessageID += 1
            s.messages += 1
            s.lastActivity = message.time
            let header = origin.transcriptHeader(socket: s.name, message)
            let bodyStart = s.transcript.count + header.utf8.count + 1
            message.transcriptSpan = bodyStart..<(bodyStart + content.count)
            let entry = transcriptEntry(header: header, body: message.content)
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
            environment.store.record(events) { [self, message] error in
                committed(message, error: error)
                done?(error)
            }
            return (nil, nil)
        }
        launch(outcome.next)
        if outcome.refusal == nil, immediate { done?(nil) }
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
        environment.counters.messageQueued(bytes: message.content.count)
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
                    s.messages -= 1  // `messages:` counts accepted messages only
                    addErrorLocked(&s, "store", "message \(message.id) not stored (\(error)); it was not queued")
                    if let ticket = message.route.team {
                        ticket.team?.memberFinished(ticket, socket: id, name: s.name, .failed("message not stored (\(error))"))
                    }
                }
                deliverLocked(&s)
                return nil
            }
            if let round = message.route.team?.round, let reason = s.cancelledWhileCommitting.removeValue(forKey: round) {
                cancelQueuedLocked(&s, message, reason: reason)
            } else {
                enqueueLocked(&s, message)
            }
            if s.committing == 0 { s.cancelledWhileCommitting.removeAll() }
            return startNextLocked(&s)
        }
        launch(next)
    }

    /// The team chat gave up on `round` (a timeout, a lost race, a fallback moving on): its
    /// message here is cancelled, in flight, queued or still being committed, and says so in
    /// `error` and the transcript.
    func cancelTeamMessage(round: UInt64, reason: String) {
        let next: Work? = state.withLock { s in
            if let work = s.current, work.message.route.team?.round == round {
                endCurrentLocked(&s, .cancelled(reason))
                return startNextLocked(&s)
            }
            guard let index = s.queue.firstIndex(where: { $0.route.team?.round == round }) else {
                if s.committing > 0 { s.cancelledWhileCommitting[round] = reason }
                return nil
            }
            cancelQueuedLocked(&s, s.queue.remove(at: index), reason: reason)
            return nil
        }
        launch(next)
    }

    /// A queued message that will not run: said in `error` and the transcript, and removed
    /// from the store's queue.
    private func cancelQueuedLocked(_ s: inout State, _ message: InputMessage, reason: String) {
        addErrorLocked(&s, "request", "message \(message.id) cancelled: \(reason)")
        let entry = transcriptEntry(header: "[cancelled] \(WallClock.iso8601(WallClock.now())) id=\(message.id)", body: Array(reason.utf8))
        appendTranscriptLocked(&s, entry, record: false)
        recordLocked(s, [.transcriptAppended(id, entry), .requestEnded(id, messageID: message.id)])
    }
}

/// A result that may come before or after the call that asked for it returns: given before
/// ``close()``, `close()` returns it; given after, ``give(_:)`` says it came late.
final class ImmediateAnswer: Sendable {
    private let state = Mutex<(closed: Bool, error: Errno?)>((false, nil))

    /// Gives the result; false once the caller has moved on.
    func give(_ error: Errno) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.error = error
            return true
        }
    }

    /// What was given so far; later results go to ``give(_:)``'s caller.
    func close() -> Errno? {
        state.withLock { s in
            s.closed = true
            return s.error
        }
    }
}
