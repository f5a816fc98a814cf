/// What `fork` copies into the new socket (see ``Socket/forkState(through:)``).
struct ForkCopy: Sendable {
    var model: String
    var settings: [Setting: String]
    var prompt: [UInt8]
    var headers: Bool
    var context: [Turn]
    /// The history's turns with their exchange numbers (0: a discussion note).
    var history: [(Int, Turn)]
    /// The exchange it was forked at.
    var turn: Int
}

/// `ctl` commands: checked all first, then applied, all or nothing.
extension Socket {
    /// Applies ctl commands, all or nothing: every command is checked before any is applied.
    /// The caller reports a refusal in `error`.
    public func apply(_ commands: [ControlCommand]) throws(SocketError) {
        let catalog = environment.catalog()
        for command in commands {
            if case .model(let model) = command, !catalog.contains(model) {
                throw SocketError(.EINVAL, "unknown model '\(model.prefix(100))' (see /ai/models)")
            }
            try checkToolCommand(command)
        }
        for command in commands { apply(command) }
    }

    /// A `[sockets.NAME]` template's prompt, settings and headers (the registry applies its
    /// model), set on a new socket before its creation is recorded.
    func applyTemplate(_ template: SocketTemplate) {
        state.withLock { s in
            if let prompt = template.prompt { s.prompt = Array(prompt.utf8) }
            if let headers = template.headers { s.headers = headers }
            s.settings.merge(template.settings) { $1 }
        }
    }

    /// What a fork copies: model, settings, prompt, headers, and the conversation: without
    /// `turn`, the context as it stands (trimmed or compacted) and the whole history; with it,
    /// exchanges 1 to `turn` as they were said, as both.
    func forkState(through turn: Int?) -> ForkCopy {
        state.withLock { s in
            let entries = turn.map { s.history.entries(through: $0) } ?? s.history.entries[...]
            let history = entries.compactMap { entry in
                History.turns([entry], in: s.transcript).first.map { (entry.exchange, $0) }
            }
            let context = turn == nil ? Array(s.context.turns) : history.map(\.1)
            var settings = s.settings
            settings[.forkedFrom] = "\(s.name) #\(turn ?? s.history.exchanges)"
            return ForkCopy(model: s.model, settings: settings, prompt: s.prompt, headers: s.headers, context: context,
                            history: history, turn: turn ?? s.history.exchanges)
        }
    }

    /// Takes a fork's copy (a new socket, before anyone uses it), recording it. The copied
    /// turns are written into this socket's own transcript (`[team-chat-to-NAME] [fork] #N` and
    /// `[team-chat-from-NAME] [fork] #N`), which is where its history finds them.
    func adoptFork(from source: String, _ copy: ForkCopy) {
        state.withLock { s in
            s.model = copy.model
            s.settings = copy.settings
            s.prompt = copy.prompt
            s.headers = copy.headers
            s.context = Conversation(copy.context)
            let exchanges = Set(copy.history.map(\.0).filter { $0 > 0 }).count
            var events: [StoreEvent] = [.socketSaved(recordLocked(s)), .contextAppended(id, copy.context)]
            let entry = transcriptEntry(header: "[fork] \(WallClock.iso8601(WallClock.now())) from=\(source) turn=\(copy.turn)",
                                        body: Array(("forked from \(source) at #\(copy.turn): \(exchanges) exchange\(exchanges == 1 ? "" : "s"), "
                                                     + "\(copy.context.count) turns of context").utf8))
            appendTranscriptLocked(&s, entry, record: false)
            events.append(.transcriptAppended(id, entry))
            let (written, entries) = writeTurnsLocked(&s, copy.history, tag: "fork")
            events += written
            s.history.append(entries)
            events += [.historyAppended(id, entries), memoryEvent(s, .event, "socket forked from \(source) at #\(copy.turn)")]
            recordLocked(s, events)
        }
    }

    /// Reports a refused ctl line in `error`.
    public func reportRefused(_ error: ControlError) {
        reportError(kind: "ctl", error.reason)
    }

    private func apply(_ command: ControlCommand) {
        var next: Work?
        state.withLock { s in
            s.lastActivity = WallClock.now()
            var events: [StoreEvent] = []
            switch command {
            case .model(let model):
                if s.model != model { events.append(memoryEvent(s, .event, "model \(s.model) -> \(model)")) }
                s.model = model
            case .set(let setting, let value): s.settings[setting] = value
            case .headers(let on): s.headers = on
            case .state(let life):
                if s.life != life { addErrorLocked(&s, "state", "\(s.life.rawValue) -> \(life.rawValue)") }
                s.life = life
            case .cancel:
                if s.current != nil {
                    endCurrentLocked(&s, .cancelled("cancelled by ctl"))
                    next = startNextLocked(&s)
                }
            case .compact:
                s.compactPending = true
                next = startNextLocked(&s)
            case .uncompact:
                uncompactLocked(&s)
                next = startNextLocked(&s)
            case .fork, .wire, .unwire, .restore:
                break  // the registry does these (SocketRegistry.fork, .wire, .unwire)
            case .approve, .deny, .undo:
                events += applyToolCommandLocked(&s, command)
            case .reset:
                let dropped = s.queue.count
                dropQueueLocked(&s, reason: "reset")
                if s.current != nil { endCurrentLocked(&s, .cancelled("reset")) }
                s.output.removeAll()
                s.context.removeAll()
                s.history.removeAll()
                s.compactPending = false
                s.autoCompactTried = false
                let entry = transcriptEntry(header: "[reset] \(WallClock.iso8601(WallClock.now()))",
                                            body: Array("queue (\(dropped)), unread output and context cleared".utf8))
                appendTranscriptLocked(&s, entry, record: false)
                events += [.queueCleared(id), .contextCleared(id), .historyCleared(id), .streamRead(id, .output, s.output.cursor),
                           .transcriptAppended(id, entry),
                           memoryEvent(s, .event, "reset: queue (\(dropped)), unread output and context cleared")]
                deliverLocked(&s)
            }
            events.append(.socketSaved(recordLocked(s)))
            recordLocked(s, events)
        }
        launch(next)
    }
}
