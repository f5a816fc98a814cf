import FuseKit

/// What the command lines written to a ctl file are applied to: a socket, the team chat, or
/// the daemon (`/ai/ctl`).
protocol ControlTarget: AnyObject, Sendable {
    /// Checks complete lines and posts them as a change, all or nothing; a refusal's reason is
    /// reported where the target keeps them. Returns the part that finishes later, if any.
    func applyControl(_ bytes: [UInt8], caller: Caller) throws(Errno) -> Deferred?
    /// Says that a write passed `limit` pending bytes (everything pending was dropped).
    func refuseOverLimit(_ limit: Int)
}

/// A ctl file (a socket's `ctl`, `team-chat-all/ctl`, `/ai/ctl`): its status text taken at
/// open, read at offsets, and the command lines written on this descriptor.
///
/// Every complete line is applied by the very write that completes it, so a bad command fails
/// that `write` (what `echo` reports); a last line without a newline waits for more, or for the
/// close. `EINVAL` (unknown or malformed command, over `[limits] ctl_bytes`, not UTF-8; the
/// reason in `error`, or the `error:` line of `/ai/ctl`), `EPERM` (reset or restore by another
/// user), `EEXIST` (fork onto a name in use), `ENOENT`, `ELOOP`, `EACCES` (wire), `ENOTSUP`
/// (restore without the durable store), `EIO` (the log could not take it).
final class ControlFile: OpenFile {
    let target: any ControlTarget
    let text: [UInt8]
    /// Who opened it (a `fork` belongs to them, as a `mkdir` would).
    let caller: Caller
    let limit: Int
    private var pending: [UInt8] = []

    init(target: any ControlTarget, text: String, caller: Caller, limit: Int) {
        self.target = target
        self.text = Array(text.utf8)
        self.caller = caller
        self.limit = limit
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        request.reply(bytes: text.slice(offset: offset, size: size))
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        pending.append(contentsOf: data)
        if pending.count > limit {
            pending = []
            target.refuseOverLimit(limit)
            return request.reply(error: .EINVAL)
        }
        guard let lastNewline = pending.lastIndex(of: 0x0A) else { return request.reply(written: data.count) }
        let complete = Array(pending[...lastNewline])
        pending.removeFirst(lastNewline + 1)
        run(complete, request, success: .written(data.count))
    }

    override func flush(_ request: consuming Request) {
        guard !pending.isEmpty else { return request.replyOK() }
        let rest = pending
        pending = []
        run(rest, request, success: .ok)
    }

    /// What a successful write or close answers.
    private enum Success {
        case written(Int)
        case ok
        func reply(_ request: consuming Request) {
            switch self {
            case .written(let count): request.reply(written: count)
            case .ok: request.replyOK()
            }
        }
    }

    /// Applies the lines and answers: at once, or once the change is applied (the loop thread
    /// never waits).
    private func run(_ bytes: [UInt8], _ request: consuming Request, success: Success) {
        let deferred: Deferred?
        do {
            deferred = try target.applyControl(bytes, caller: caller)
        } catch {
            return request.reply(error: error)
        }
        guard let deferred else { return success.reply(request) }
        let pending = PendingRequest(request, interruptible: false)
        deferred { error in
            guard let request = pending.take() else { return }
            if let error { request.reply(error: error) } else { success.reply(request) }
        }
    }
}

/// The text of a ctl write, or `EINVAL` (reported through `report`) when it is not UTF-8.
func controlText(_ bytes: [UInt8], report: (String) -> Void) throws(Errno) -> String {
    guard let text = String(validating: bytes, as: UTF8.self) else {
        report("ctl text is not valid UTF-8")
        throw .EINVAL
    }
    return text
}

/// A ctl file whose lines are one parser's commands: parsed here, so a bad line fails the
/// write with its reason reported, then handed to `post` as one change.
///
/// - A socket's `ctl` (``ControlCommand``): posted as ``Change/control(socket:text:uid:gid:)``,
///   whose checks need the whole tree, and waited for.
/// - `team-chat-all/ctl` (``TeamCommand``: `mode`, `moderator`, `timeout`): posted as
///   ``Change/teamControl(text:)`` (every daemon's team chat), and waited for, so a message
///   written after the ctl write returns finds the new settings in force (with Redis the
///   write waits for this daemon's tailer to apply it).
final class ParsedControl<Command: LineCommand>: ControlTarget {
    let maxLine: Int
    let report: @Sendable (String) -> Void
    let post: @Sendable (_ text: String, _ caller: Caller) -> Deferred?
    /// Refuses (`EPERM`, the reason in `error`) commands this writer may not give; nil: all.
    let screen: (@Sendable ([Command]) -> String?)?

    init(maxLine: Int, report: @escaping @Sendable (String) -> Void,
         screen: (@Sendable ([Command]) -> String?)? = nil,
         post: @escaping @Sendable (_ text: String, _ caller: Caller) -> Deferred?) {
        self.screen = screen
        self.maxLine = maxLine
        self.report = report
        self.post = post
    }

    func applyControl(_ bytes: [UInt8], caller: Caller) throws(Errno) -> Deferred? {
        let text = try controlText(bytes, report: report)
        let commands: [Command]
        do {
            commands = try Command.parseLines(text, maxLine: maxLine)
        } catch {
            report(error.reason)
            throw error.errno
        }
        if let screen, let reason = screen(commands) {
            report(reason)
            throw .EPERM
        }
        return post(text, caller)
    }

    func refuseOverLimit(_ limit: Int) {
        report("ctl write over \(limit) bytes")
    }
}

extension ParsedControl where Command == ControlCommand {
    static func socket(_ socket: Socket, log: any ChangeLog, maxLine: Int,
                       screen: (@Sendable ([ControlCommand]) -> String?)? = nil) -> ParsedControl {
        ParsedControl(maxLine: maxLine, report: { socket.reportRefused(ControlError($0)) }, screen: screen) { text, caller in
            let id = socket.id
            return { done in
                log.post(.control(socket: id, text: text, uid: caller.uid, gid: caller.gid)) { done($0.errno) }
            }
        }
    }
}

extension ParsedControl where Command == TeamCommand {
    static func team(_ team: TeamChat, log: any ChangeLog, maxLine: Int) -> ParsedControl {
        ParsedControl(maxLine: maxLine, report: { team.reportError(kind: "ctl", $0) }) { text, _ in
            { done in log.post(.teamControl(text: text)) { done($0.errno) } }
        }
    }
}
