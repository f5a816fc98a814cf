/// The work of the socket's owner as changes: the provider writes into the log through
/// ``WorkPoster``; every daemon (the owner too) applies those changes here.
extension Socket {
    /// Reply text, reasoning, usage, a note or the end of the request `message`, from the owner.
    func applyWork(message: UInt64, _ change: Change) {
        let work: Work? = state.withLock { s in
            guard let work = s.current, work.message.id == message else { return nil }
            return work
        }
        guard let work else { return }  // already ended here (cancelled, cut, removed)
        switch change {
        case .text(_, _, let bytes): appendReply(work, bytes)
        case .reasoning(_, _, let bytes): appendReasoning(work, bytes)
        case .usage(_, _, let input, let output): addUsage(work, input: input, output: output)
        case .diagnostic(_, _, let kind, let text): reportDiagnostic(work, kind: kind, text)
        case .end(_, _, let outcome): finish(work, outcome)
        case .restart:
            state.withLock { s in
                guard s.current === work else { return }
                work.reply = []
                // The new owner asks the model again: the old owner's waiting calls are gone.
                dropPendingLocked(&s, message: message)
                addErrorLocked(&s, "owner", "message \(message) is answered again from the start by a new owner")
            }
        default:
            break
        }
    }

    /// Whether the request in flight has streamed part of its reply: that part lives only in
    /// memory until the request ends, so a checkpoint is not taken while any socket has one.
    var isMidReply: Bool {
        state.withLock { s in s.current.map { !$0.reply.isEmpty } ?? false }
    }

    /// This daemon now owns the socket: answer the request in flight (its old owner stopped,
    /// so it starts again from the beginning) and then the queue.
    func takeOver() {
        let taken: (Work, Bool)? = state.withLock { s in
            guard let work = s.current, !work.launched, !s.closed else { return nil }
            return (work, s.pendingCalls.contains { $0.message == work.message.id })
        }
        guard let (work, waitingCalls) = taken else { return }
        // Also when the old owner's calls still wait in pending/ (nothing streamed yet): the
        // restart drops them on every daemon.
        if !work.reply.isEmpty || work.outputStart != nil || waitingCalls {
            environment.log.post(.restart(socket: id, message: work.message.id))
        }
        launch(work)
    }
}

/// Where a provider streams one request's reply: every piece is a change posted to the log,
/// and applying it (here at once with one daemon, on every daemon with Redis) feeds the socket.
///
/// Once the request has ended on this socket object (cancelled, cut, restored over), nothing
/// more is posted: a late chunk from a cancelled task must not reach a restored socket that is
/// answering the same message id again.
struct WorkPoster: ReplySink {
    let log: any ChangeLog
    let socket: Socket
    let work: Socket.Work
    private var message: UInt64 { work.message.id }

    init(log: any ChangeLog, socket: Socket, work: Socket.Work) {
        self.log = log
        self.socket = socket
        self.work = work
    }

    private func post(_ change: Change) {
        guard socket.isLive(work) else { return }
        log.post(change)
    }

    func text(_ bytes: [UInt8]) { post(.text(socket: socket.id, message: message, bytes: bytes)) }
    func reasoning(_ bytes: [UInt8]) { post(.reasoning(socket: socket.id, message: message, bytes: bytes)) }
    func usage(input: Int, output: Int) { post(.usage(socket: socket.id, message: message, input: input, output: output)) }
    func diagnostic(kind: String, _ text: String) {
        post(.diagnostic(socket: socket.id, message: message, kind: kind, text: text))
    }
    /// A call outside the agent loop (the socket offered no tools): said in `error`, not run.
    func toolCall(_ call: ToolCallRequest) {
        diagnostic(kind: "tool", "the model called '\(call.name.prefix(64))', but this socket has no tools enabled (tools NAME,NAME in ctl)")
    }
    /// A step of the agent loop.
    func tool(_ event: ToolEvent) { post(.tool(socket: socket.id, message: message, event: event)) }
    /// The end of the request.
    func end(_ outcome: WorkOutcome) { post(.end(socket: socket.id, message: message, outcome: outcome)) }
}

extension Socket {
    /// Whether `work` has not ended on this socket object.
    func isLive(_ work: Work) -> Bool { state.withLock { _ in !work.cancelled } }
}
