/// What one compaction replaces: the oldest `turns` merged turns of the context (standing for
/// `rows` stored turns), and why it runs (`compact`, or `auto-compact` at `percent` of `limit`).
struct Compaction: Sendable {
    let turns: Int
    let rows: Int
    let automatic: (percent: Int, limit: Int, tokens: Int)?
}

/// Compaction: the oldest turns of the model's context replaced by a summary the model writes,
/// without losing a word (the transcript, memory and ``History`` keep every original turn),
/// and `uncompact`, which rebuilds the whole context from the transcript.
///
/// A compaction is a request like any other, run in the socket's turn, one at a time: it asks
/// the model (the socket's, or `[sockets] compact_model`) for a summary of the turns before the
/// last `[sockets] compact_keep`, with the socket's system prompt and ``instruction`` as the
/// last user message. Its reply goes to no reader; when it completes, the context becomes the
/// summary (a user turn that begins `[summary of N earlier turns]`) and the kept turns, the
/// transcript gets `[compacted N turns]` with the summary, and `error` says so. It fails or is
/// cancelled (`cancel`, `reset`, `uncompact`) with the context unchanged.
extension Socket {
    /// The last user message of a compaction request.
    static let instruction = Array(("Summarize the conversation so far for your own later use: keep every fact, name, number, "
                                    + "decision and open question needed to go on with it. Reply with the summary only.").utf8)

    /// Compactions have ids of their own, apart from message ids, so that a daemon of a cluster
    /// that decided otherwise (its configuration or provider listing differs) still numbers
    /// its messages as the others do.
    static let compactionIDs: UInt64 = 1 << 62

    /// The compaction to run before the next message, if one is due: one asked for by `compact`,
    /// or `auto-compact` (once per message) when the context with the system prompt and the
    /// next message reaches that share of `context-tokens`, and what it would replace holds at
    /// least half of the context (else compacting again and again would not make room: the
    /// oldest turns are dropped instead). What it sends the model fits in the limit. The caller
    /// makes it the work in flight. Called as every message starts: without `compact` or
    /// `auto-compact` it looks at two fields of the state and nothing else.
    func dueCompactionLocked(_ s: inout State) -> Work? {
        guard s.compactPending || (!s.autoCompactTried && s.settings[.autoCompact] != nil) else { return nil }
        let keep = max(1, environment.limits.compactKeep)
        let compactable = max(0, s.context.count - keep)
        let limit = contextLimitLocked(s).limit
        if s.compactPending {
            s.compactPending = false
            guard compactable > 0 else {
                addErrorLocked(&s, "context", "compact: nothing to compact (\(s.context.count) turns in the context, "
                               + "the last \(keep) are kept: [sockets] compact_keep)")
                return nil
            }
            return compactionWorkLocked(&s, compactable, limit: limit, automatic: nil)
        }
        guard !s.autoCompactTried, let next = s.queue.first, compactable > 0, let limit,
              let percent = s.settings[.autoCompact].flatMap(Int.init), percent > 0 else { return nil }
        let tokens = Conversation.tokens(s.prompt.count) + Conversation.tokens(next.content.count) + s.context.tokens
        guard tokens * 100 >= limit * percent, s.context.tokens(ofOldest: compactable) * 2 >= s.context.tokens else { return nil }
        s.autoCompactTried = true
        return compactionWorkLocked(&s, compactable, limit: limit, automatic: (percent, limit, tokens))
    }

    /// A compaction of the `count` oldest turns, or of as many of them as fit in `limit` with
    /// the system prompt and the instruction; nil if not even one does (said in `error`).
    private func compactionWorkLocked(_ s: inout State, _ count: Int, limit: Int?,
                                      automatic: (percent: Int, limit: Int, tokens: Int)?) -> Work? {
        var turns = count
        if let limit {
            turns = s.context.oldest(count, fitting: limit - Conversation.tokens(s.prompt.count) - Conversation.tokens(Self.instruction.count))
            guard turns > 0 else {
                addErrorLocked(&s, "context", (automatic == nil ? "compact" : "auto-compact")
                               + ": the oldest turn alone does not fit in context-tokens \(limit) with the system prompt; nothing compacted")
                return nil
            }
        }
        s.compactions += 1
        let message = InputMessage(id: Self.compactionIDs + s.compactions, content: Self.instruction, headers: MessageHeaders(),
                                   uid: s.uid, time: WallClock.now(), route: .compaction)
        return Work(message: message, forwardTo: nil,
                    compaction: Compaction(turns: turns, rows: s.context.rows(ofOldest: turns), automatic: automatic))
    }

    /// The model a compaction asks: `[sockets] compact_model` when it is configured, else the socket's.
    func compactionModelLocked(_ s: State) -> String {
        if let model = environment.limits.compactModel, environment.catalog().contains(model) { return model }
        return s.model
    }

    /// Ends a compaction: on success the context becomes the summary and the kept turns.
    func endCompactionLocked(_ s: inout State, _ work: Work, _ compaction: Compaction, _ outcome: Outcome) {
        var events: [StoreEvent] = []
        s.lastActivity = WallClock.now()
        let why = compaction.automatic.map { "auto-compact: the context reached \($0.percent)% of context-tokens \($0.limit) "
            + "(about \($0.tokens) tokens with the system prompt and the next message); " } ?? "compact: "
        switch outcome {
        case .completed where work.reply.contains(where: { $0 > 0x20 }):
            let header = Array("[summary of \(compaction.rows) earlier turns]\n".utf8)
            let kept = s.context.count - compaction.turns
            let rows = s.context.replaceOldest(compaction.turns, with: Turn(role: .user, content: header + work.reply))
            let entry = transcriptEntry(header: "[compacted \(compaction.rows) turns] \(WallClock.iso8601(WallClock.now()))",
                                        body: work.reply)
            appendTranscriptLocked(&s, entry, record: false)
            events += [.contextCleared(id), .contextAppended(id, rows), .transcriptAppended(id, entry),
                       memoryEvent(s, .event, "compacted \(compaction.rows) turns: " + String(decoding: work.reply, as: UTF8.self))]
            addErrorLocked(&s, "context", why + "\(compaction.rows) turns replaced by a summary of \(work.reply.count) bytes "
                           + "(\(kept) turns kept; the transcript keeps every turn; `uncompact` brings them back)")
        case .completed:
            addErrorLocked(&s, "context", why + "the model returned an empty summary; the context is unchanged")
        case .failed(let reason):
            addErrorLocked(&s, "context", why + "failed: \(reason); the context is unchanged"
                           + (compaction.automatic != nil ? " (the oldest turns are dropped instead if it does not fit)" : ""))
        case .cancelled(let reason):
            addErrorLocked(&s, "context", why + "cancelled: \(reason); the context is unchanged")
        }
        events.append(.socketSaved(recordLocked(s)))
        recordLocked(s, events)
        deliverLocked(&s)
    }

    /// `uncompact`: the context rebuilt from the transcript, every turn since the last reset
    /// (a compaction in flight is cancelled first). The next request trims it to
    /// `context-tokens` again if it must.
    func uncompactLocked(_ s: inout State) {
        s.compactPending = false
        if let work = s.current, work.compaction != nil { endCurrentLocked(&s, .cancelled("uncompact")) }
        let turns = History.turns(s.history.entries, in: s.transcript)
        s.context = Conversation(turns)
        let note = "context rebuilt from the transcript: \(turns.count) turns (\(s.history.exchanges) exchanges), about \(s.context.tokens) tokens"
        let entry = transcriptEntry(header: "[uncompacted] \(WallClock.iso8601(WallClock.now()))", body: Array(note.utf8))
        appendTranscriptLocked(&s, entry, record: false)
        recordLocked(s, [.contextCleared(id), .contextAppended(id, turns), .transcriptAppended(id, entry),
                         memoryEvent(s, .event, "uncompact: " + note)])
        addErrorLocked(&s, "context", "uncompact: " + note)
    }

    /// The text of `context`: the system prompt and the turns the model gets next, in order,
    /// each after a line `[system]`, `[user]` or `[assistant]` (before the next message's own
    /// trimming to `context-tokens`).
    public func contextText() -> [UInt8] {
        state.withLock { s in
            var text: [UInt8] = []
            for (label, content) in Self.contextBlocks(s) {
                text.append(contentsOf: Array("[\(label)]\n".utf8))
                text.append(contentsOf: content)
                if content.last != 0x0A { text.append(0x0A) }
            }
            return text
        }
    }

    /// The length of ``contextText()``, counted without building it (for `stat`).
    public var contextSize: Int {
        state.withLock { s in
            Self.contextBlocks(s).reduce(0) { $0 + $1.label.utf8.count + 3 + $1.content.count + ($1.content.last == 0x0A ? 0 : 1) }
        }
    }

    /// The blocks of `context`: the system prompt (if any), then each turn.
    private static func contextBlocks(_ s: State) -> [(label: String, content: [UInt8])] {
        (s.prompt.isEmpty ? [] : [("system", s.prompt)]) + s.context.turns.map { ($0.role.rawValue, $0.content) }
    }

    /// Completed exchanges since the last reset (the last `#N` of the transcript).
    public var exchangeCount: Int { state.withLock { $0.history.exchanges } }
}

/// The history's turns written into this socket's own transcript: a fork's copy, or the
/// context as it stands when the history cannot stand for it (``History/covers(_:in:)``).
extension Socket {
    /// Appends `turns` to the transcript, each after a header `[team-chat-to-NAME] [TAG] #N`,
    /// `[team-chat-from-NAME] [TAG] #N` or `[discussion] [TAG]` (exchange 0), and returns what to
    /// record and the history's places of them.
    func writeTurnsLocked(_ s: inout State, _ turns: [(Int, Turn)], tag: String) -> ([StoreEvent], [HistoryEntry]) {
        var events: [StoreEvent] = []
        var entries: [HistoryEntry] = []
        for (exchange, turn) in turns {
            let label = exchange == 0 ? "[discussion] [\(tag)]"
                : turn.role == .user ? "[team-chat-to-\(s.name)] [\(tag)] #\(exchange)" : "[team-chat-from-\(s.name)] [\(tag)] #\(exchange)"
            let start = s.transcript.count + label.utf8.count + 1
            let entry = transcriptEntry(header: label, body: turn.content)
            appendTranscriptLocked(&s, entry, record: false)
            events.append(.transcriptAppended(id, entry))
            entries.append(HistoryEntry(exchange: exchange, role: turn.role, start: start, length: turn.content.count))
        }
        return (events, entries)
    }

    /// Starts the history again from the context as it stands, so that `uncompact` and
    /// `fork NAME TURN` never hand the model other bytes: the context's turns found again in
    /// the transcript, or else written into it under `[history] TIME` (a question with the reply
    /// after it numbered as an exchange from #1), and then `why` goes to `error` and the transcript.
    func rebaseHistoryLocked(_ s: inout State, because why: String) {
        let turns = Array(s.context.turns)
        // Most often every turn is in the transcript already, only not where the places say
        // (a store from before the history was kept; bytes a full disk kept from the store):
        // found again, nothing is written and nothing needs saying.
        if let found = History.relocate(turns, in: s.transcript) {
            s.history.removeAll()
            s.history.append(found)
            recordLocked(s, [.historyCleared(id), .historyAppended(id, found)])
            return
        }
        let numbered = Array(zip(History.exchangeNumbers(turns), turns))
        let note = "the history starts again from the context as it stands (\(turns.count) turns): \(why)"
        let entry = transcriptEntry(header: "[history] \(WallClock.iso8601(WallClock.now()))", body: Array(note.utf8))
        appendTranscriptLocked(&s, entry, record: false)
        let (events, entries) = writeTurnsLocked(&s, numbered, tag: "history")
        s.history.removeAll()
        s.history.append(entries)
        recordLocked(s, [.transcriptAppended(id, entry)] + events + [.historyCleared(id), .historyAppended(id, entries)])
        addErrorLocked(&s, "context", note)
    }
}
