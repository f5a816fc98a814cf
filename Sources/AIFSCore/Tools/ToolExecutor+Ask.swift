import Synchronization

/// The `ask` tool: a message to another socket, whose reply is the result (Rhetor's pattern:
/// an AI hands a subtask to another). The asking socket's owner must be allowed to write to
/// the other socket. A cycle is refused at once — a socket asking itself, `a` asks `b` whose
/// answer asks `a`, or `a` asking `b` while `b` (for a message of its own) waits on an ask to
/// `a`: the first socket is busy waiting, so the message would wait forever. The wait is
/// bounded by the tool's timeout.
extension ToolExecutor {
    static func ask(_ name: String, _ message: String, timeout: Double, context: ToolContext,
                    environment: SocketEnvironment) async -> Outcome {
        guard let target = environment.directory.socket(named: name) else {
            return Outcome(status: "error", text: "ask: no socket named '\(name.prefix(100))'", isError: true)
        }
        if target.id == context.socketID || context.askedBy.contains(target.id) {
            return Outcome(status: "refused",
                           text: "ask: '\(name)' is waiting for this answer already (an ask cycle would wait for itself)", isError: true)
        }
        guard target.allows(.write, Caller(uid: context.uid, gid: context.gid)) else {
            return Outcome(status: "refused", text: "ask: permission denied: uid \(context.uid) may not write to '\(name)'", isError: true)
        }
        guard !message.isEmpty else { return Outcome(status: "error", text: "ask: the message is empty", isError: true) }
        guard environment.asks.begin(context.socketID, asking: target.id) else {
            return Outcome(status: "refused",
                           text: "ask: '\(name)' is waiting for this socket already (an ask cycle would wait for itself)", isError: true)
        }
        defer { environment.asks.end(context.socketID) }
        let stream = ChatStream(askedBy: context.askedBy + [context.socketID])
        if let refused = target.submitChat(Array(message.utf8), uid: context.uid, into: stream) {
            return Outcome(status: "error", text: "ask: '\(name)' refused the message (\(refused))", isError: true)
        }
        let timedOut = Atomic<Bool>(false)
        let timer = Task.detached {
            try? await CancellableSleep.sleep(seconds: timeout)
            guard !Task.isCancelled else { return }
            timedOut.store(true, ordering: .relaxed)
            stream.finish(failed: true)
        }
        let reply = await withTaskCancellationHandler {
            await stream.reply()
        } onCancel: {
            stream.finish(failed: true)
        }
        timer.cancel()
        if timedOut.load(ordering: .relaxed) {
            return Outcome(status: "timeout", text: "ask: '\(name)' gave no answer within \(Int(timeout.rounded(.up))) s (the tool's timeout)",
                           isError: true)
        }
        let text = String(decoding: reply.bytes, as: UTF8.self)
        if reply.failed {
            return Outcome(status: "error", text: "ask: '\(name)' failed to answer" + (text.isEmpty ? "" : ": \(text)"), isError: true)
        }
        return Outcome(status: "ok", text: text, isError: false)
    }
}

/// Which socket's agent loop waits on an ask to which (one ask at a time per socket), so an
/// ask that would close a cycle is refused before it is sent.
final class AskGraph: Sendable {
    private let waits = Mutex<[SocketID: SocketID]>([:])

    /// Records that `asker` waits on `target`; false (nothing recorded) if `target` already
    /// waits, directly or through others, on `asker`.
    func begin(_ asker: SocketID, asking target: SocketID) -> Bool {
        waits.withLock { waits in
            var next: SocketID? = target
            var steps = 0
            while let current = next, steps <= waits.count {
                if current == asker { return false }
                next = waits[current]
                steps += 1
            }
            waits[asker] = target
            return true
        }
    }

    func end(_ asker: SocketID) { waits.withLock { _ = $0.removeValue(forKey: asker) } }
}
