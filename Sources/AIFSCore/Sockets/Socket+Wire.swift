/// Pipelines (`wire NAME` / `unwire`): a wired socket sends each finished reply to another
/// socket's input instead of its own `output`, and the reader at the end of the chain waits
/// while anything upstream still works.
///
/// Lock order along a pipeline: a socket may take the lock of a socket *downstream* of it while
/// holding its own (to hand over a reply), never one upstream. Upstream work is evaluated with
/// one lock at a time, upstream first, so a reply moving down the chain is always seen at
/// least once (see ``upstreamFeeding(visited:)``).
extension Socket {
    /// Sets or clears the socket this one's replies go to (the registry checks for loops).
    func setWire(_ target: Socket?) {
        state.withLock { s in
            let old = s.wireName
            s.wire = target
            s.wireName = target?.name
            if old != s.wireName {
                addErrorLocked(&s, "wire", target.map { "replies now go to \($0.name)'s input" } ?? "unwired: replies go to output again")
            }
            recordLocked(s, [.socketSaved(recordLocked(s))])
            deliverLocked(&s)
        }
    }

    /// The socket this one is wired to was renamed.
    func wireTargetRenamed(to name: String) {
        state.withLock { s in
            guard s.wireName != nil else { return }
            s.wireName = name
            recordLocked(s, [.socketSaved(recordLocked(s))])
        }
    }

    /// The socket this one was wired to is gone: replies go to `output` again.
    func wireTargetRemoved(_ name: String) {
        state.withLock { s in
            guard s.wire != nil else { return }
            s.wire = nil
            s.wireName = nil
            addErrorLocked(&s, "wire", "unwired: \(name) was removed; replies go to output again")
            recordLocked(s, [.socketSaved(recordLocked(s))])
            deliverLocked(&s)
        }
    }

    /// Hands the finished request's outcome down the wire, under this socket's lock: a reply
    /// becomes the next socket's input; a failure becomes a failure mark (`EIO` once) and an
    /// error line at the end of the chain. If the next socket refuses the reply, it stays here,
    /// in `output`, and `error` says why.
    func forwardLocked(_ s: inout State, _ work: Work, _ outcome: Outcome, to target: Socket) {
        switch outcome {
        case .completed:
            guard let refusal = target.acceptForwarded(work.reply, from: s.name, uid: work.message.uid) else { return }
            addErrorLocked(&s, "wire", "\(target.name) refused message \(work.message.id)'s reply (\(refusal)); it is in this socket's output")
            if work.outputStart == nil { work.outputStart = s.output.writtenPosition }
            var bytes = work.reply
            if bytes.last != 0x0A { bytes.append(0x0A) }
            s.output.append(bytes)
            work.outputBytes.append(contentsOf: bytes)
        case .failed(let reason):
            environment.wiring.terminal(from: target).upstreamFailed(s.name, "message \(work.message.id) failed: \(reason)")
        case .cancelled:
            break  // nothing goes down; readers downstream hear it through propagation
        }
    }

    /// A request upstream failed: readers of this `output` get `EIO` once, and `error` says where.
    func upstreamFailed(_ source: String, _ reason: String) {
        state.withLock { s in
            guard !s.closed else { return }
            addErrorLocked(&s, "wire", "upstream \(source): \(reason)")
            let start = s.output.writtenPosition
            s.output.appendFailure()
            recordLocked(s, [.streamAppended(id, .output, start: start, bytes: [], failureAfter: true)])
            deliverLocked(&s)
        }
    }

    /// Whether any socket wired into this one (directly or further up) has work that will end
    /// up here. One lock at a time, upstream first.
    func upstreamFeeding(visited: inout Set<SocketID>) -> Bool {
        for source in environment.wiring.sources(of: id) where visited.insert(source.id).inserted {
            if source.upstreamFeeding(visited: &visited) { return true }
            if source.state.withLock({ $0.feedsLocally }) { return true }
        }
        return false
    }

    func upstreamFeeding() -> Bool {
        var visited: Set<SocketID> = [id]
        return upstreamFeeding(visited: &visited)
    }

    /// Re-evaluates upstream work and answers parked readers with that fresh value (called
    /// on the wiring queue, outside every lock).
    func recheckUpstream() {
        let upstream = upstreamFeeding()
        state.withLock { s in
            s.upstreamFeeding = upstream
            deliverLocked(&s, upstreamFresh: true)
        }
    }
}

/// What the team chat asks of a member socket beyond its queue.
extension Socket {
    /// `discuss` mode: the other members' replies of a finished round join this socket's
    /// context (as a user turn, merged into the next message when a request is built) and its
    /// transcript.
    func addDiscussion(_ text: [UInt8], round: UInt64) {
        state.withLock { s in
            guard !s.closed else { return }
            let turn = Turn(role: .user, content: text)
            s.context.append(turn)
            let header = "[discussion] \(WallClock.iso8601(WallClock.now())) round=\(round)"
            let bodyStart = s.transcript.count + header.utf8.count + 1
            let entry = transcriptEntry(header: header, body: text)
            appendTranscriptLocked(&s, entry, record: false)
            let note = s.history.appendNote(bodyStart..<(bodyStart + text.count))
            recordLocked(s, [.contextAppended(id, [turn]), .transcriptAppended(id, entry), .historyAppended(id, [note])])
        }
    }

    /// Binds the team messages of a restored queue to the team chat (before ``resume()``).
    func bindRestoredTeamMessages(to team: TeamChat) {
        state.withLock { s in
            for index in s.queue.indices {
                guard let ticket = s.queue[index].route.team else { continue }
                s.queue[index].route = .team(team.restoredTicket(ticket, socket: id, name: s.name))
            }
        }
    }
}

extension Socket {
    /// A wire brought back from the store (no `error` line: nothing changed).
    func restoreWire(_ target: Socket) {
        state.withLock { s in
            s.wire = target
            s.wireName = target.name
        }
    }
}

extension Socket {
    /// A restore is about to rewrite this socket: the request in flight is cancelled (said in
    /// `error` and the transcript, as any cancel), queued team and chat messages are let go,
    /// parked readers get end of file, and nothing more is recorded. Returns the id of the
    /// message that was in flight.
    func suspendForRestore(_ reason: String) -> UInt64? {
        state.withLock { s in
            guard !s.closed else { return nil }
            var inFlight: UInt64?
            if let work = s.current {
                if work.compaction == nil { inFlight = work.message.id }  // a compaction is said in error itself
                endCurrentLocked(&s, .cancelled(reason))
            }
            dropQueueLocked(&s, reason: reason)
            s.closed = true
            deliverLocked(&s)
            return inFlight
        }
    }
}
