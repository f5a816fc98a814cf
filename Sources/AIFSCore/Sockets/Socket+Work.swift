/// The request in flight: one at a time per socket, run in a detached task that streams the
/// provider's reply into `output`.
extension Socket {
    /// Takes the next queued message as the work in flight, if idle. Launch what it returns
    /// after releasing the lock.
    func startNextLocked(_ s: inout State) -> Work? {
        guard s.current == nil, !s.closed else { return nil }
        if let compaction = dueCompactionLocked(&s) {
            s.current = compaction
            requestStartedLocked(s, compaction)
            return compaction
        }
        guard !s.queue.isEmpty else { return nil }
        let message = s.queue.removeFirst()
        s.autoCompactTried = false
        // A reply for `output` follows the wire in force when its request starts.
        let work = Work(message: message, forwardTo: message.route.isOutput ? s.wire : nil)
        s.current = work
        requestStartedLocked(s, work)
        if message.chat == nil { recordLocked(s, [.requestStarted(id, messageID: message.id)]) }
        // Here rather than when the provider is called, so that every daemon of a cluster trims
        // the same turns at the same point.
        trimContextLocked(&s, adding: message.content)
        return work
    }

    /// Starts the provider for the work in flight, if this daemon owns the socket (with the
    /// Redis backend every other daemon follows its reply through the log). Inside an
    /// ``InlineWork`` scope (a FUSE handler on the loop thread) it starts once the handler is
    /// done and no lock is held, and a provider that can answer at once (echo) answers there,
    /// without waking another thread; otherwise, and everywhere else, in a task.
    func launch(_ work: Work?) {
        guard let work else { return }
        guard environment.log.owns(id) else { return }
        let started = state.withLock { _ -> Bool in
            guard !work.launched else { return false }
            work.launched = true
            work.launchedAt = DaemonCounters.monotonicSeconds()
            return true
        }
        guard started else { return }
        environment.counters.requestStarted()
        if InlineWork.defer({ [self] in answerHere(work) }) { return }
        startTask(work)
    }

    /// The model a request is answered by: resolved once, when it starts.
    typealias Resolved = (provider: any Provider, model: String)

    private func startTask(_ work: Work, _ resolved: Resolved? = nil) {
        let task = Task.detached { [self] in await self.run(work, resolved) }
        state.withLock { _ in
            if work.cancelled { task.cancel() } else { work.task = task }
        }
    }

    /// On the loop thread with no lock held: the work ends here if its provider answers at
    /// once, else it gets its task.
    private func answerHere(_ work: Work) {
        let resolved = resolve(work)
        if let resolved, answeredImmediately(work, resolved) {
            conclude(work, .completed)  // the request is gone: the context is not copied
        } else {
            startTask(work, resolved)
        }
    }

    private func answeredImmediately(_ work: Work, _ resolved: Resolved) -> Bool {
        guard let immediate = resolved.provider as? any ImmediateProvider, let (request, _) = prepare(work, resolved) else {
            return false
        }
        return immediate.respondImmediately(to: request, into: WorkPoster(log: environment.log, socket: self, work: work))
    }

    /// The socket's model as it stands now; nil if the work has ended or the model is not configured.
    private func resolve(_ work: Work) -> Resolved? {
        state.withLock { s in
            guard s.current === work else { return nil }
            return environment.catalog().resolve(work.compaction == nil ? s.model : compactionModelLocked(s))
        }
    }

    /// The end of the provider's work, posted to the log like its reply text: every daemon
    /// (this one too) ends the request when it applies it.
    private func conclude(_ work: Work, _ outcome: Outcome) {
        WorkPoster(log: environment.log, socket: self, work: work).end(outcome)
    }

    private func run(_ work: Work, _ resolved: Resolved?) async {
        let outcome = await respond(work, resolved)
        // The request (and its view of the context) is gone by now, so ending the work appends
        // to the context without copying it.
        conclude(work, outcome)
    }

    /// The request for the work in flight and its timeout, for `resolved`; nil if the work has ended.
    private func prepare(_ work: Work, _ resolved: Resolved) -> (ProviderRequest, Double?)? {
        state.withLock { s in
            guard s.current === work else { return nil }
            // The context is merged as it grows (a discussion note joins the next message), so
            // roles alternate as the APIs require; the request shares its storage.
            let (history, message) = work.compaction.map { s.context.compactionRequest($0.turns, instruction: work.message.content) }
                ?? s.context.request(for: work.message.content)
            let timeout = s.settings[.timeout].flatMap(Double.init)
            var request = ProviderRequest(model: resolved.model, systemPrompt: s.prompt, history: history, message: message,
                                          settings: s.settings)
            request.inbox = agentInbox
            if work.compaction == nil {
                request.tools = enabledToolsLocked(s).map { ToolSpec(name: $0.name, description: $0.description, parameters: $0.parameters) }
            }
            return (request, timeout)
        }
    }

    /// Asks the provider; how it went.
    private func respond(_ work: Work, _ resolved: Resolved?) async -> Outcome {
        guard let resolved = resolved ?? resolve(work) else { return .failed("model is not configured") }
        guard let (request, timeout) = prepare(work, resolved) else { return .cancelled("request ended") }
        let provider = resolved.provider
        if !request.tools.isEmpty { return await respondWithTools(work, provider, request, timeout: timeout) }
        let sink = WorkPoster(log: environment.log, socket: self, work: work)
        do {
            try await Self.ask(provider, request, into: sink, timeout: timeout)
            return .completed
        } catch is CancellationError {
            return .cancelled("request cancelled")
        } catch {
            return .failed("\(error)")
        }
    }

    /// The socket's context limit: its own `context-tokens` (`own`), else the default
    /// (``SocketEnvironment/defaultContextTokens(model:)``); nil for none.
    func contextLimitLocked(_ s: State) -> (limit: Int?, own: Bool) {
        if let own = s.settings[.contextTokens].flatMap(Int.init) { return (own, true) }
        return (environment.defaultContextTokens(model: s.model), false)
    }

    /// Drops the oldest turns (a user turn with its reply) until the context, the system prompt
    /// and the new message fit in the socket's `context-tokens`, or the default
    /// (``SocketEnvironment/defaultContextTokens(model:)``); says so in `error` (for the default, only
    /// the first time). The system prompt and the new message are always kept. Tokens are
    /// estimated as UTF-8 bytes / 4; the context keeps its total, so this costs the same
    /// however long the history is.
    func trimContextLocked(_ s: inout State, adding message: [UInt8]) {
        let (limit, own) = contextLimitLocked(s)
        guard let limit else { return }
        let fixed = Conversation.tokens(s.prompt.count) + Conversation.tokens(message.count)
        var dropped = 0
        while fixed + s.context.tokens > limit, !s.context.isEmpty { dropped += s.context.dropOldest() }
        guard dropped > 0 else { return }
        recordLocked(s, [.contextTrimmed(id, count: dropped)])
        if !own {
            guard !s.trimmedByDefault else { return }
            s.trimmedByDefault = true
        }
        addErrorLocked(&s, "context", "dropped the \(dropped) oldest turns to fit context-tokens \(limit)"
                       + (own ? "" : " (the default, [sockets] context_tokens; said once)")
                       + " (\(s.context.rows) turns kept, about \(fixed + s.context.tokens) tokens with the system prompt "
                       + "and the new message)")
    }

    /// Streams reply text from the work in flight into `output`.
    /// A reply that would pass `[limits] reply_bytes` is cut there: what fits is kept, the
    /// request ends as answered, and `error` says where it was cut.
    func appendReply(_ work: Work, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let limit = environment.limits.maxReplyBytes
        let next: Work? = state.withLock { s in
            guard s.current === work else { return nil }
            let room = limit - work.reply.count
            let kept = bytes.count <= room ? bytes : Array(bytes.prefix(max(0, room)))
            writeReplyHeaderLocked(&s, work)
            appendOutputLocked(&s, work, kept)
            work.reply.append(contentsOf: kept)
            if work.firstTextTime == nil, !kept.isEmpty { work.firstTextTime = WallClock.now() }
            if work.launched, !kept.isEmpty {
                if work.firstTextAt == nil { work.firstTextAt = DaemonCounters.monotonicSeconds() }
                environment.counters.replyStreamed(bytes: kept.count)
            }
            guard bytes.count > room else {
                deliverLocked(&s)
                return nil
            }
            work.cut = true
            addErrorLocked(&s, work.compaction == nil ? "request" : "context",
                           (work.compaction == nil ? "message \(work.message.id): reply" : "compact: the summary")
                           + " cut at \(limit) bytes ([limits] reply_bytes)")
            endCurrentLocked(&s, .completed)
            return startNextLocked(&s)
        }
        launch(next)
    }

    func appendReasoning(_ work: Work, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        state.withLock { s in
            guard s.current === work, s.headers else { return }
            writeReplyHeaderLocked(&s, work)
            var text = Array("[thinking] ".utf8) + bytes
            if bytes.last != 0x0A { text.append(0x0A) }
            appendOutputLocked(&s, work, text)
            deliverLocked(&s)
        }
    }

    func addUsage(_ work: Work, input: Int, output: Int) {
        state.withLock { s in
            guard s.current === work else { return }
            s.tokensIn += input
            s.tokensOut += output
            work.tokensIn += input
            work.tokensOut += output
            if work.launched { environment.counters.addTokens(input: input, output: output) }
        }
    }

    /// A provider's note (retry, stderr line) for the request in flight goes to `error`.
    func reportDiagnostic(_ work: Work, kind: String, _ message: String) {
        state.withLock { s in
            guard s.current === work else { return }
            addErrorLocked(&s, kind, message)
        }
    }

    private func writeReplyHeaderLocked(_ s: inout State, _ work: Work) {
        guard !work.wroteHeader else { return }
        work.wroteHeader = true
        if s.headers { appendOutputLocked(&s, work, Array("[team-chat-from-\(s.name)]\n".utf8)) }
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

    /// Ends the request in flight: closes its reply in `output` (a failure mark if it failed),
    /// writes the transcript, and records all of it, with the message leaving the queue, as
    /// one group.
    func endCurrentLocked(_ s: inout State, _ outcome: Outcome) {
        guard let work = s.current else { return }
        s.current = nil
        defer { requestEndedLocked(s, work, outcome) }
        work.cancelled = true
        work.task?.cancel()
        let ended = DaemonCounters.monotonicSeconds()
        if work.launched {
            environment.counters.requestEnded(outcome, seconds: ended - work.launchedAt,
                                              firstText: work.firstTextAt.map { $0 - work.launchedAt })
        }
        s.lastLatency = ended - (work.launched ? work.launchedAt : work.startedAt)
        dropPendingLocked(&s, message: work.message.id)
        if let compaction = work.compaction { return endCompactionLocked(&s, work, compaction, outcome) }
        let now = WallClock.now()
        s.lastActivity = now
        let messageID = work.message.id
        var events: [StoreEvent] = []
        var failed = false
        switch outcome {
        case .completed:
            s.consecutiveFailures = 0
            writeReplyHeaderLocked(&s, work)
            if work.reply.last != 0x0A { appendOutputLocked(&s, work, [0x0A]) }
            let turns = [Turn(role: .user, content: work.message.content), Turn(role: .assistant, content: work.reply)]
            s.context.append(contentsOf: turns)
            events.append(.contextAppended(id, turns))
            // The question's place in the transcript: kept when it was accepted, else (queued
            // before a restart) found again. The reply's is where its entry's body starts.
            let question = work.message.transcriptSpan
                ?? History.locate(content: work.message.content, messageID: messageID, in: s.transcript)
            let number = question == nil ? "" : " #\(s.history.nextExchange)"
            let header = "[team-chat-from-\(s.name)] \(WallClock.iso8601(now))\(number) id=\(messageID)" + (work.cut ? " [cut]" : "")
            let replyStart = s.transcript.count + header.utf8.count + 1
            let entry = transcriptEntry(header: header, body: work.reply)
            appendTranscriptLocked(&s, entry, record: false)
            events.append(.transcriptAppended(id, entry))
            if let question {
                events.append(.historyAppended(id, s.history.appendExchange(question: question,
                                                                            reply: replyStart..<(replyStart + work.reply.count))))
            } else {
                recordLocked(s, events)
                events = []
                rebaseHistoryLocked(&s, because: "message \(messageID) was not found in the transcript")
            }
            events.append(memoryEvent(s, .reply, String(decoding: work.reply, as: UTF8.self),
                                      ["message": "\(messageID)", "model": s.model]))
        case .failed(let reason):
            if !work.reply.isEmpty, work.reply.last != 0x0A { appendOutputLocked(&s, work, [0x0A]) }
            failed = true
            addErrorLocked(&s, "request", "message \(messageID) failed: \(reason)")
            s.consecutiveFailures += 1
            let threshold = environment.limits.unresponsiveAfter
            if threshold > 0, s.consecutiveFailures >= threshold, s.life != .unresponsive {
                addErrorLocked(&s, "state", "\(s.life.rawValue) -> unresponsive after \(s.consecutiveFailures) failed requests in a row; "
                               + "write 'state active' to ctl to use it again")
                s.life = .unresponsive
            }
            let entry = transcriptEntry(header: "[error] \(WallClock.iso8601(now)) id=\(messageID)", body: Array(reason.utf8))
            appendTranscriptLocked(&s, entry, record: false)
            events.append(.transcriptAppended(id, entry))
        case .cancelled(let reason):
            if !work.reply.isEmpty, work.reply.last != 0x0A { appendOutputLocked(&s, work, [0x0A]) }
            addErrorLocked(&s, "request", "message \(messageID) cancelled: \(reason)")
            let entry = transcriptEntry(header: "[cancelled] \(WallClock.iso8601(now)) id=\(messageID)", body: Array(reason.utf8))
            appendTranscriptLocked(&s, entry, record: false)
            events.append(.transcriptAppended(id, entry))
        }
        switch work.message.route {
        case .compaction:
            break  // ended above (endCompactionLocked)
        case .chat(let chat):
            // Cancelled: end of file after what was sent; an `ask` waiting on it is told it failed.
            chat.finish(failed: failed || (!chat.askedBy.isEmpty && outcome != .completed))
        case .team(let ticket):
            let result: TeamOutcome
            switch outcome {
            case .completed: result = .reply(work.reply)
            case .failed(let reason): result = .failed(reason)
            case .cancelled(let reason): result = .cancelled(reason)
            }
            ticket.team?.memberFinished(ticket, socket: id, name: s.name, result)
            events.append(.requestEnded(id, messageID: messageID))
        case .output:
            if let target = work.forwardTo {
                forwardLocked(&s, work, outcome, to: target)
            }
            let start = work.outputStart ?? s.output.writtenPosition
            if failed && work.forwardTo == nil { s.output.appendFailure() }
            events.append(.streamAppended(id, .output, start: start, bytes: work.outputBytes,
                                          failureAfter: failed && work.forwardTo == nil))
            events.append(.requestEnded(id, messageID: messageID))
        }
        events.append(.socketSaved(recordLocked(s)))
        recordLocked(s, events)
        deliverLocked(&s)
    }
}
