import FuseKit

/// What readers see: `output` (consumed, blocking), `error` (consumed, never blocking),
/// `transcript` (append-only, seekable) and `prompt`.
extension Socket {
    // MARK: output

    /// Answers a `read` of `output`: unread bytes now; `EIO` once after a failed request;
    /// `EAGAIN` (non-blocking) or parked while a reply is pending; otherwise end of file.
    public func readOutput(_ request: consuming Request, size: Int, nonBlocking: Bool) {
        enum Decision { case answer(OutputBuffer.ReadResult), park }
        // Work upstream of a wire into this socket is evaluated first, outside the lock.
        let wired = environment.wiring.hasSources(id)
        let upstream = wired && upstreamFeeding()
        let decision: Decision = state.withLock { s in
            if wired { s.upstreamFeeding = upstream }
            let result = readOutputLocked(&s, max: size)
            if result != .nothing { return .answer(result) }
            return s.isPending(upstream: upstream) && !s.closed ? .park : .answer(.nothing)
        }
        let log = environment.log
        if case .answer(.nothing) = decision, log.mayLag, !nonBlocking {
            // End of file only once everything already in the shared log is applied here.
            let pending = PendingRequest(request, interruptible: true, onInterrupt: { [weak self] in self?.dropParked() })
            let key = ObjectIdentifier(pending)
            state.withLock { s in s.readers.park(pending, size: size, holdsEnd: true) }
            log.catchUp { [weak self] in
                guard let self else { return }
                state.withLock { s in
                    s.readers.release(key)
                    deliverLocked(&s)
                }
            }
            return
        }
        switch decision {
        case .answer(let result):
            ReaderQueue.answer(request, result)
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
                s.readers.park(pending, size: size)
                deliverLocked(&s)  // data may have arrived meanwhile
            }
            // Upstream may have finished between the evaluation and the parking.
            if wired { environment.wiring.recheck(self) }
        }
    }

    /// Consumes from `output` and records how far it is read.
    private func readOutputLocked(_ s: inout State, max size: Int) -> OutputBuffer.ReadResult {
        let result = s.output.read(max: size)
        if result != .nothing { recordLocked(s, [.streamRead(id, .output, s.output.cursor)]) }
        return result
    }

    private func dropParked() {
        state.withLock { $0.readers.dropAnswered() }
    }

    /// Hands unread output (or end of file) to parked readers in arrival order, and wakes
    /// pollers when a read would not block. Replying under the lock is safe: an interrupt
    /// callback only takes this lock after it has claimed its own request.
    ///
    /// With sockets wired into this one, end of file is given only on a fresh evaluation of
    /// upstream work (`upstreamFresh`, from ``recheckUpstream()``); otherwise a recheck is
    /// scheduled. When this socket stops having work for its own wire, the sockets downstream
    /// are told to re-evaluate.
    func deliverLocked(_ s: inout State, upstreamFresh: Bool = false) {
        let wired = s.wire == nil && environment.wiring.hasSources(id)
        // Unknown (a stale "nothing upstream") counts as pending until rechecked.
        let upstream = wired && (s.upstreamFeeding || !upstreamFresh)
        let pending = s.isPending(upstream: upstream) && !s.closed
        var readers = s.readers
        s.readers = ReaderQueue()
        readers.deliver { size, consume in
            if !s.output.isEmpty { return .data(consume ? readOutputLocked(&s, max: size) : .nothing) }
            return pending ? .wait : .end
        }
        // A reader still waits, or a poller: with only a stale "nothing upstream", recheck.
        let stale = wired && !upstreamFresh && !s.upstreamFeeding && !s.ownPending
        var needsRecheck = readers.hasParked && stale
        if !s.output.isEmpty || !pending {
            readers.notifyPollers()
        } else if readers.hasPollers, stale {
            needsRecheck = true
        }
        s.readers = readers
        if needsRecheck { environment.wiring.recheck(self) }
        let feeds = s.feedsLocally
        if feeds != s.reportedFeeding {
            s.reportedFeeding = feeds
            if !feeds { environment.wiring.propagate(from: self) }
        }
    }

    /// Current `poll` readiness of `output`; keeps `handle` (newest per open file, keyed by
    /// `owner`) to notify when it becomes readable.
    public func pollOutput(owner: AnyObject, handle: PollHandle?) -> PollEvents {
        let wired = environment.wiring.hasSources(id)
        let upstream = wired && upstreamFeeding()
        let events: PollEvents = state.withLock { s in
            if wired { s.upstreamFeeding = upstream }
            return s.readers.poll(owner: owner, handle: handle, readable: !s.output.isEmpty || !(s.isPending(upstream: upstream) && !s.closed))
        }
        if wired, events.isEmpty { environment.wiring.recheck(self) }
        return events
    }

    /// Forgets the poll handle of an open file that is being released.
    public func forgetPoll(owner: AnyObject) {
        state.withLock { $0.readers.forgetPoll(owner: owner) }
    }

    // MARK: error

    /// Consumes up to `size` bytes of unread error lines; empty at the end (never blocks).
    public func readErrors(max size: Int) -> [UInt8] {
        state.withLock { s in
            let bytes = s.errors.read(max: size)
            if !bytes.isEmpty { recordLocked(s, [.streamRead(id, .error, s.errors.cursor)]) }
            return bytes
        }
    }

    /// Adds a line to `error` (`TIME KIND message`).
    public func reportError(kind: String, _ message: String) {
        state.withLock { s in addErrorLocked(&s, kind, message) }
    }

    // MARK: transcript, prompt

    /// Transcript bytes at `offset` (regular-file semantics; append-only).
    public func readTranscript(offset: Int, size: Int) -> [UInt8] {
        state.withLock { s in
            guard offset < s.transcript.count else { return [] }
            return Array(s.transcript[offset..<min(s.transcript.count, offset + size)])
        }
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
            recordLocked(s, [.socketSaved(recordLocked(s))])
        }
    }
}
