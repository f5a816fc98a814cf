/// What a socket tells the store, always under its lock (see ``SocketStore``), and the helpers
/// that change a stream and record the change in one step.
extension Socket {
    /// The socket's record as it stands.
    func recordLocked(_ s: State) -> SocketRecord {
        SocketRecord(id: id, name: s.name, model: s.model, life: s.life, headers: s.headers, settings: s.settings,
                     prompt: s.prompt, created: s.created, lastActivity: s.lastActivity, uid: s.uid, gid: s.gid,
                     mode: s.mode, messages: s.messages, tokensIn: s.tokensIn, tokensOut: s.tokensOut,
                     nextMessageID: s.nextMessageID, wire: s.wireName ?? "")
    }

    /// Records the new socket (called by the registry before the socket is reachable).
    func recordCreation() {
        state.withLock { s in
            recordLocked(s, [.socketCreated(recordLocked(s)), memoryEvent(s, .event, "socket created (model \(s.model))")])
        }
    }

    /// Records events unless the socket is closed (a removed socket records nothing more).
    func recordLocked(_ s: State, _ events: [StoreEvent]) {
        guard !s.closed, !events.isEmpty else { return }
        environment.store.record(events)
    }

    /// A memory entry for this socket.
    func memoryEvent(_ s: State, _ kind: MemoryEntry.Kind, _ content: String, _ metadata: [String: String] = [:]) -> StoreEvent {
        .memory(MemoryEntry(time: WallClock.now(), socket: s.name, kind: kind, content: content, metadata: metadata))
    }

    /// Adds a `TIME KIND message` line to `error`, and records it (stream and memory).
    func addErrorLocked(_ s: inout State, _ kind: String, _ message: String) {
        let (start, bytes) = s.errors.add(Self.errorLine(kind, message))
        s.errorLines += 1
        errorEventLocked(s, kind: kind, message)
        recordLocked(s, [
            .streamAppended(id, .error, start: start, bytes: bytes, failureAfter: false),
            memoryEvent(s, .error, message, ["kind": kind]),
        ])
    }

    /// A transcript entry: the header line, then the body with a newline added if missing.
    func transcriptEntry(header: String, body: [UInt8]) -> [UInt8] {
        var entry = Array(header.utf8)
        entry.append(0x0A)
        entry.append(contentsOf: body)
        if body.last != 0x0A { entry.append(0x0A) }
        return entry
    }

    /// Appends an entry to `transcript` (and records it, unless the caller records it itself).
    func appendTranscriptLocked(_ s: inout State, _ entry: [UInt8], record: Bool = true) {
        s.transcript.append(contentsOf: entry)
        s.transcriptModified = WallClock.now()
        if record { recordLocked(s, [.transcriptAppended(id, entry)]) }
    }

    /// Appends to `output` on behalf of the request in flight, keeping a copy for the store.
    /// A `chat` message's reply goes to its descriptor's stream instead (and is not stored).
    func appendOutputLocked(_ s: inout State, _ work: Work, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        switch work.message.route {
        case .chat(let chat):
            chat.append(bytes)
            return
        case .team, .compaction:
            return  // the team chat prints the whole reply once it is complete; a summary goes to no reader
        case .output:
            if work.forwardTo != nil { return }  // goes down the wire once complete
        }
        if work.outputStart == nil { work.outputStart = s.output.writtenPosition }
        s.output.append(bytes)
        work.outputBytes.append(contentsOf: bytes)
    }
}
