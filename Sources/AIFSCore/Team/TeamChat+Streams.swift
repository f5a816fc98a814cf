import FuseKit

/// `team-chat-all/output` and `error`: the round blocks as they complete, read like a socket's
/// `output` (parked while a round is open, end of file when none is), and the failure lines.
extension TeamChat {

    /// Appends to `output` and records it.
    func appendLocked(_ s: inout State, _ bytes: [UInt8]) {
        let start = s.output.writtenPosition
        s.output.append(bytes)
        environment.store.record([.teamStreamAppended(.output, start: start, bytes: bytes)])
    }

    /// Answers a read of `team-chat-all/output`: unread bytes now; `EAGAIN` (non-blocking) or
    /// parked while a round is open; end of file otherwise.
    public func readOutput(_ request: consuming Request, size: Int, nonBlocking: Bool) {
        let bytes: [UInt8]? = state.withLock { s in
            let bytes = readLocked(&s, max: size)
            if !bytes.isEmpty || s.rounds.isEmpty || s.closed { return bytes }
            return nil
        }
        if let bytes { return request.reply(bytes: bytes) }
        if nonBlocking { return request.reply(error: .EAGAIN) }
        let pending = PendingRequest(request, interruptible: true, onInterrupt: { [weak self] in
            self?.state.withLock { $0.readers.dropAnswered() }
        })
        state.withLock { s in
            s.readers.park(pending, size: size)
            deliverLocked(&s)
        }
    }

    /// Consumes what `output` holds now, without a request (tests and tools); `open` tells
    /// whether a round is still collecting.
    func readAvailable(max size: Int = 1 << 20) -> (bytes: [UInt8], open: Bool) {
        state.withLock { s in (readLocked(&s, max: size), !s.rounds.isEmpty) }
    }

    func readLocked(_ s: inout State, max size: Int) -> [UInt8] {
        guard case .bytes(let bytes) = s.output.read(max: size) else { return [] }
        environment.store.record([.teamStreamRead(.output, position: s.output.cursor.position)])
        return bytes
    }

    /// Hands unread output (or end of file) to parked readers, and wakes pollers.
    func deliverLocked(_ s: inout State) {
        var readers = s.readers
        s.readers = ReaderQueue()
        readers.deliver { size, consume in
            if !s.output.isEmpty { return .data(consume ? .bytes(readLocked(&s, max: size)) : .nothing) }
            return s.rounds.isEmpty || s.closed ? .end : .wait
        }
        if !s.output.isEmpty || s.rounds.isEmpty { readers.notifyPollers() }
        s.readers = readers
    }

    /// `poll` readiness of `output`; keeps the newest handle per open file.
    public func pollOutput(owner: AnyObject, handle: PollHandle?) -> PollEvents {
        state.withLock { s in
            s.readers.poll(owner: owner, handle: handle, readable: !s.output.isEmpty || s.rounds.isEmpty || s.closed)
        }
    }

    public func forgetPoll(owner: AnyObject) {
        state.withLock { $0.readers.forgetPoll(owner: owner) }
    }

    /// Consumes unread `error` lines (never blocks).
    public func readErrors(max size: Int) -> [UInt8] {
        state.withLock { s in
            let bytes = s.errors.read(max: size)
            if !bytes.isEmpty { environment.store.record([.teamStreamRead(.error, position: s.errors.cursor.position)]) }
            return bytes
        }
    }

    /// Adds a `TIME KIND message` line to `team-chat-all/error`.
    public func reportError(kind: String, _ message: String) {
        state.withLock { s in
            let (start, bytes) = s.errors.add(Socket.errorLine(kind, message))
            environment.store.record([
                .teamStreamAppended(.error, start: start, bytes: bytes),
                .memory(MemoryEntry(time: WallClock.now(), socket: "team-chat-all", kind: .error, content: message, metadata: ["kind": kind])),
            ])
        }
    }

    /// The daemon is stopping: parked readers get `EIO` (rounds stay in the store's queues).
    func shutdown() {
        state.withLock { s in
            s.closed = true
            s.readers.fail(.EIO)
        }
    }
}
