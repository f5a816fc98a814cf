import FuseKit
import Synchronization

/// `mode fallback A,B,C`: one member at a time, in the order given, until one answers.
///
/// A message asks A only. If A fails, is refused (unresponsive, queue full), or has not
/// answered when the round's `timeout` passes (each member gets the whole timeout, counted from
/// when it is asked), its line is printed (`[team-chat-from-A] [error] reason`, or `… [error]
/// timed out after N s`), its request is cancelled through the log
/// (``Change/teamCancel(socket:round:reason:)``), and B is asked; then C. The first reply is
/// printed whole and ends the round. A name that is not a socket when its turn comes, or one
/// the writer may not write to, is skipped with a line saying so. When the list runs out the
/// round ends with every reason printed.
///
/// The names are checked for syntax when `ctl` takes them; a message finds them then. Leading
/// `[team-chat-to-NAME]` headers are refused (`EINVAL`): the order is the mode's. `close()` of
/// `input` returns once the first member asked has its copy committed, or with the first
/// refusal (or `ENOENT`) when none took it. No moderator is asked.
extension TeamChat {

    /// How a `fallback` round asks its next member: the names left, as whom, and the writer
    /// waiting for `close()`.
    struct FallbackPlan {
        var names: [String]
        let caller: Caller
        let priorityHigh: Bool
        let acknowledgement: FallbackAcknowledgement
    }

    /// Opens a `fallback` round and asks its first member (see the extension's comment).
    func sendFallback(_ content: [UInt8], names: [String], headers: MessageHeaders, caller: Caller, settings: TeamSettings,
                      registry: SocketRegistry, done: @escaping @Sendable (Errno?) -> Void) {
        let order = names.joined(separator: ",")
        if !headers.recipients.isEmpty {
            reportError(kind: "team", "mode fallback asks \(order) in turn; [team-chat-to-NAME] headers are refused; message not sent")
            return done(.EINVAL)
        }
        let sockets = names.compactMap { registry.socket(named: $0) }
        if sockets.isEmpty {
            reportError(kind: "team", "mode fallback: no socket named \(names.joined(separator: ", ")); message not sent")
            return done(.ENOENT)
        }
        if !sockets.contains(where: { $0.allows(.write, caller) }) {
            reportError(kind: "team", "uid \(caller.uid) may not write to \(sockets.map(\.name).joined(separator: ", ")); message not sent")
            return done(.EACCES)
        }
        let plan = FallbackPlan(names: names, caller: caller, priorityHigh: headers.priorityHigh,
                                acknowledgement: FallbackAcknowledgement(done))
        let round = openRound(content, settings: settings, members: [], fallback: plan)
        recordQuestion(round, uid: caller.uid, to: "fallback \(order)")
        askNext(round: round.id)
    }

    /// What the round holds for ``askNext(round:)``: nothing (it ended), nobody left, or a name.
    private enum Next {
        case gone
        case exhausted(FallbackAcknowledgement)
        case ask(name: String, plan: FallbackPlan, question: [UInt8], timeout: Double)
    }

    /// What became of the name taken: the round ended meanwhile, it was skipped, or asked.
    private enum Asked {
        case gone
        case skipped
        case asked(step: Int)
    }

    /// Asks the round's next member, skipping (with a line each) names that are not sockets or
    /// that the writer may not write to; ends the round when none is left. Runs outside every
    /// lock: on the writer's thread for the first member, on the team's queue after that.
    func askNext(round id: UInt64) {
        while true {
            let next: Next = state.withLock { s in
                guard var round = s.rounds[id], round.phase == .members, var plan = round.fallback else { return .gone }
                guard !plan.names.isEmpty else {
                    s.rounds.removeValue(forKey: id)
                    deliverLocked(&s)
                    return .exhausted(plan.acknowledgement)
                }
                let name = plan.names.removeFirst()
                round.fallback = plan
                s.rounds[id] = round
                return .ask(name: name, plan: plan, question: round.question, timeout: round.timeout)
            }
            guard case .ask(let name, let plan, let question, let timeout) = next else {
                if case .exhausted(let acknowledgement) = next { acknowledgement.finish() }
                return
            }
            let socket = registry?.socket(named: name)
            var skip: (reason: String, errno: Errno)?
            if socket == nil {
                skip = ("no socket named \(name); skipped", .ENOENT)
            } else if socket?.allows(.write, plan.caller) == false {
                skip = ("uid \(plan.caller.uid) may not write to \(name); skipped", .EACCES)
            }
            let asked: Asked = state.withLock { s in
                guard var round = s.rounds[id], round.phase == .members else { return .gone }
                guard let socket, skip == nil else {
                    appendLocked(&s, Self.block(name: name, synthesis: false, .failed(skip?.reason ?? "skipped")))
                    deliverLocked(&s)
                    return .skipped
                }
                round.members.append(Member(socket: socket.id, name: name, synthesis: false))
                round.step += 1
                s.rounds[id] = round
                return .asked(step: round.step)
            }
            switch asked {
            case .gone:
                return
            case .skipped:
                if let skip { plan.acknowledgement.refused(skip.errno) }
                continue
            case .asked(let step):
                guard let socket else { return }
                let ticket = TeamTicket(round: id, synthesis: false, team: self)
                let acknowledgement = plan.acknowledgement
                handOver(question, to: socket, priorityHigh: plan.priorityHigh, uid: plan.caller.uid, ticket: ticket, broadcast: false) { [self] error in
                    guard let error else { return acknowledgement.accepted() }
                    acknowledgement.refused(error)
                    memberFinished(ticket, socket: socket.id, name: name, .failed(Self.refusal(error)))
                }
                scheduleTimeout(round: id, phase: .members, step: step, after: timeout)
                return
            }
        }
    }
}

/// Answers the writer of a `fallback` message once: success when a member took its copy,
/// or, when the list ran out with none taking it, the first refusal.
final class FallbackAcknowledgement: Sendable {
    private struct Answer {
        var given = false
        var firstRefusal: Errno?
    }
    private let state = Mutex(Answer())
    private let done: @Sendable (Errno?) -> Void

    init(_ done: @escaping @Sendable (Errno?) -> Void) {
        self.done = done
    }

    /// A member's copy is committed: the writer's `close()` returns 0.
    func accepted() { give(nil) }

    /// A member refused its copy or was skipped; the first reason is kept for ``finish()``.
    func refused(_ error: Errno) {
        state.withLock { a in a.firstRefusal = a.firstRefusal ?? error }
    }

    /// Nobody is left to ask.
    func finish() {
        give(state.withLock { $0.firstRefusal } ?? .ENOENT)
    }

    private func give(_ error: Errno?) {
        let first = state.withLock { a in
            defer { a.given = true }
            return !a.given
        }
        if first { done(error) }
    }
}
