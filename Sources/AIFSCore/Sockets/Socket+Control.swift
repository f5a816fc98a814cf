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

    /// What a fork copies: model, settings, prompt, headers and the conversation context.
    func forkState() -> (model: String, settings: [Setting: String], prompt: [UInt8], headers: Bool, context: [Turn]) {
        state.withLock { s in (s.model, s.settings, s.prompt, s.headers, Array(s.context.turns)) }
    }

    /// Takes a fork's copy (a new socket, before anyone uses it), recording it.
    func adoptFork(from source: String, _ copy: (model: String, settings: [Setting: String], prompt: [UInt8], headers: Bool, context: [Turn])) {
        state.withLock { s in
            s.model = copy.model
            s.settings = copy.settings
            s.prompt = copy.prompt
            s.headers = copy.headers
            s.context = Conversation(copy.context)
            let entry = transcriptEntry(header: "[fork] \(WallClock.iso8601(WallClock.now()))",
                                        body: Array("forked from \(source) with \(copy.context.count) turns of context".utf8))
            appendTranscriptLocked(&s, entry, record: false)
            recordLocked(s, [.socketSaved(recordLocked(s)), .contextAppended(id, copy.context), .transcriptAppended(id, entry),
                             memoryEvent(s, .event, "socket forked from \(source)")])
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
            case .fork, .wire, .unwire, .restore:
                break  // the registry does these (SocketRegistry.fork, .wire, .unwire)
            case .reset:
                let dropped = s.queue.count
                dropQueueLocked(&s, reason: "reset")
                if s.current != nil { endCurrentLocked(&s, .cancelled("reset")) }
                s.output.removeAll()
                s.context.removeAll()
                let entry = transcriptEntry(header: "[reset] \(WallClock.iso8601(WallClock.now()))",
                                            body: Array("queue (\(dropped)), unread output and context cleared".utf8))
                appendTranscriptLocked(&s, entry, record: false)
                events += [.queueCleared(id), .contextCleared(id), .streamRead(id, .output, s.output.cursor),
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
