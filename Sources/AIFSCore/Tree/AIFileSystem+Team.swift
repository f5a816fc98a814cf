import FuseKit

/// `team-chat-all/input` and `team-chat-all/ctl`: the write side of the team chat.
///
/// `input` works like a socket's: everything between open and close is one message, committed
/// at the first flush with bytes (what `close()` returns): `EFBIG` over the size limit (at
/// `write`), `ENOENT` when a `[team-chat-to-NAME]` names no socket, `ENXIO` when no socket is
/// active, or the members' refusal (`EHOSTDOWN`, `EAGAIN`) when none took it. `ctl` applies each
/// complete line at once, all or nothing (`EINVAL`, reason in `team-chat-all/error`).
extension AIFileSystem {
    func writeTeamInput(_ request: consuming Request, _ file: TeamInputFile, _ data: UnsafeRawBufferPointer) {
        if let failure = file.failure { return request.reply(error: failure) }
        let limit = environment.limits.maxMessageBytes
        if file.overflows(adding: data.count, limit: limit) {
            registry.team.reportError(kind: "input", "message over \(limit) bytes refused (EFBIG); nothing was sent")
            return request.reply(error: .EFBIG)
        }
        file.buffer.append(contentsOf: data)
        request.reply(written: data.count)
    }

    func flushTeamInput(_ request: consuming Request, _ file: TeamInputFile) {
        if let failure = file.failure { return request.reply(error: failure) }
        guard !file.buffer.isEmpty else { return request.replyOK() }
        let message = file.buffer
        file.buffer = []
        // close() returns once every member's copy is committed; the loop thread moves on.
        let pending = PendingRequest(request, interruptible: false)
        registry.team.send(message, caller: file.caller) { error in
            guard let request = pending.take() else { return }
            if let error { request.reply(error: error) } else { request.replyOK() }
        }
    }

    func writeTeamControl(_ request: consuming Request, _ file: TeamControlFile, _ data: UnsafeRawBufferPointer) {
        switch Self.completeLines(&file.pending, adding: data, limit: environment.limits.maxControlBytes) {
        case .overLimit:
            registry.team.reportError(kind: "ctl", "ctl write over \(environment.limits.maxControlBytes) bytes")
            request.reply(error: .EINVAL)
        case .none:
            request.reply(written: data.count)
        case .lines(let complete):
            do {
                try applyTeamControl(complete)
                request.reply(written: data.count)
            } catch {
                request.reply(error: error)
            }
        }
    }

    /// Parses and applies team ctl text, all or nothing; a refusal's reason goes to `error`.
    func applyTeamControl(_ bytes: [UInt8]) throws(Errno) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            registry.team.reportError(kind: "ctl", "ctl text is not valid UTF-8")
            throw .EINVAL
        }
        do {
            let commands = try TeamCommand.parseLines(text, maxLine: environment.limits.maxControlLine)
            if let cluster = environment.cluster {
                cluster.post(.teamControl(text: text)) { _ in }  // every daemon's team chat
            } else {
                registry.team.apply(commands)
            }
        } catch {
            registry.team.reportError(kind: "ctl", error.reason)
            throw error.errno
        }
    }
}
