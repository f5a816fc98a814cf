/// The socket's side of a cluster (`[store] backend = "redis"`): the owner's provider writes
/// into the log through ``ClusterSink``; every daemon applies those entries here.
extension Socket {
    /// Reply text, reasoning, usage or a note for the request `message`, from the owner.
    func applyWork(message: UInt64, _ body: ClusterEntry.Body) {
        let work: Work? = state.withLock { s in
            guard let work = s.current, work.message.id == message else { return nil }
            return work
        }
        guard let work else { return }  // already ended here (cancelled, cut, removed)
        switch body {
        case .text(_, _, let bytes): appendReply(work, bytes)
        case .reasoning(_, _, let bytes): appendReasoning(work, bytes)
        case .usage(_, _, let input, let output): addUsage(work, input: input, output: output)
        case .diagnostic(_, _, let kind, let text): reportDiagnostic(work, kind: kind, text)
        case .end(_, _, let outcome, let reason):
            switch outcome {
            case "completed": finish(work, .completed)
            case "cancelled": finish(work, .cancelled(reason))
            default: finish(work, .failed(reason))
            }
        case .restart:
            state.withLock { s in
                guard s.current === work else { return }
                work.reply = []
                addErrorLocked(&s, "owner", "message \(message) is answered again from the start by a new owner")
            }
        default:
            break
        }
    }

    /// This daemon now owns the socket: answer the request in flight (its old owner stopped,
    /// so it starts again from the beginning) and then the queue.
    func takeOver(cluster: ClusterNode) {
        let work: Work? = state.withLock { s in
            guard let work = s.current, !work.launched, !s.closed else { return nil }
            return work
        }
        guard let work else { return }
        if !work.reply.isEmpty || work.outputStart != nil {
            cluster.post(.restart(socket: id, message: work.message.id))
        }
        launch(work)
    }
}

/// Where the owner's provider writes with the Redis backend: every piece goes into the log, and
/// every daemon (this one too) applies it to the socket in log order.
struct ClusterSink: ReplySink {
    let cluster: ClusterNode
    let socket: SocketID
    let message: UInt64
    func text(_ bytes: [UInt8]) { cluster.post(.text(socket: socket, message: message, bytes: bytes)) }
    func reasoning(_ bytes: [UInt8]) { cluster.post(.reasoning(socket: socket, message: message, bytes: bytes)) }
    func usage(input: Int, output: Int) { cluster.post(.usage(socket: socket, message: message, input: input, output: output)) }
    func diagnostic(kind: String, _ message: String) {
        cluster.post(.diagnostic(socket: socket, message: self.message, kind: kind, text: message))
    }
}
