/// The agent loop's steps as every daemon applies them (``ToolEvent``): the transcript
/// entries `[tool-call ID NAME]` and `[tool-result ID STATUS]`, the same lines in `output` with
/// `headers on`, `error` for every refusal and failure, memory, `pending/`, and undo records.
extension Socket {
    /// Applies one tool event of request `message` (0: of no request, an `undo`).
    func applyTool(message: UInt64, _ event: ToolEvent) {
        state.withLock { s in
            let work = s.current.flatMap { $0.message.id == message ? $0 : nil }
            let now = WallClock.now()
            var events: [StoreEvent] = []
            switch event {
            case .call(let callID, let name, let arguments):
                guard let work else { return }
                let header = "[tool-call \(callID) \(name)] \(WallClock.iso8601(now)) id=\(message)"
                let entry = transcriptEntry(header: header, body: Array(arguments.utf8))
                appendTranscriptLocked(&s, entry, record: false)
                events += [.transcriptAppended(id, entry),
                           memoryEvent(s, .event, "tool call \(callID) \(name) \(arguments)", ["tool": name, "call": callID, "message": "\(message)"])]
                if s.headers {
                    appendOutputLocked(&s, work, Array("[tool-call \(callID) \(name)] \(arguments)\n".utf8))
                    deliverLocked(&s)
                }
            case .pending(let callID, let name, let arguments, let reason):
                guard work != nil else { return }
                s.pendingNumber += 1
                s.pendingCalls.append(PendingCall(id: callID, message: message, name: name, arguments: arguments, reason: reason,
                                                  since: now, number: s.pendingNumber))
                addErrorLocked(&s, "tool", "call \(callID) \(name) waits for confirmation (\(reason)): "
                               + "write 'approve \(callID)' or 'deny \(callID)' to ctl; see pending/\(callID)")
            case .result(let callID, let status, let output, let isError):
                s.pendingCalls.removeAll { $0.id == callID }
                s.toolDecisions[callID] = nil
                guard let work else { return }
                if work.launched { environment.counters.toolResult(status: status) }
                let header = "[tool-result \(callID) \(status)] \(WallClock.iso8601(now)) id=\(message)"
                let entry = transcriptEntry(header: header, body: output)
                appendTranscriptLocked(&s, entry, record: false)
                let text = String(decoding: output, as: UTF8.self)
                events += [.transcriptAppended(id, entry),
                           memoryEvent(s, .event, "tool result \(callID) \(status) \(text)", ["call": callID, "message": "\(message)"])]
                if isError {
                    let firstLine = text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
                    addErrorLocked(&s, "tool", "call \(callID) \(status): \(firstLine.prefix(300))")
                }
                if s.headers {
                    var shown = Array("[tool-result \(callID) \(status)]\n".utf8) + output
                    if shown.last != 0x0A { shown.append(0x0A) }
                    appendOutputLocked(&s, work, shown)
                    deliverLocked(&s)
                }
            case .undoSaved(let callID, let path, let previous):
                s.undoRecords[callID] = UndoRecord(path: path, previous: previous)
                events.append(.undoSaved(id, callID: callID, record: UndoRecord(path: path, previous: previous)))
            case .undone(let callID, let failure):
                guard let record = s.undoRecords[callID] else { return }
                let body = failure.map { "could not put back \(record.path): \($0)" }
                    ?? (record.previous == nil ? "removed \(record.path) (it did not exist before)"
                        : "put back \(record.path) (\(record.previous!.count) bytes)")
                let entry = transcriptEntry(header: "[undo \(callID)] \(WallClock.iso8601(now))", body: Array(body.utf8))
                appendTranscriptLocked(&s, entry, record: false)
                events += [.transcriptAppended(id, entry), memoryEvent(s, .event, "undo \(callID): \(body)", ["call": callID])]
                if let failure {
                    addErrorLocked(&s, "tool", "undo \(callID): \(failure)")
                } else {
                    s.undoRecords[callID] = nil
                    events.append(.undoSaved(id, callID: callID, record: nil))
                }
            }
            recordLocked(s, events)
        }
    }

    /// The text of `pending/ID` for the call numbered `number`, if it still waits.
    func pendingCall(number: UInt32) -> PendingCall? {
        state.withLock { s in s.pendingCalls.first { $0.number == number } }
    }

    /// The calls waiting in `pending/`, oldest first.
    var pendingCalls: [PendingCall] { state.withLock { $0.pendingCalls } }

    /// Drops the pending calls of the request that ended (called as it ends); the owner's
    /// loop learns its request was cancelled.
    func dropPendingLocked(_ s: inout State, message: UInt64) {
        for call in s.pendingCalls where call.message == message { s.toolDecisions[call.id]?.decide(.cancelled) }
        s.pendingCalls.removeAll { $0.message == message }
    }
}
