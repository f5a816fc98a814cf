import Dispatch
import FuseKit
import Synchronization

/// `team-chat-all/`: one message to many sockets, their replies collected in one stream.
///
/// A message written to `team-chat-all/input` opens a **round**: it goes to every `active`
/// socket (`[broadcast]`), or only to the sockets named by leading `[team-chat-to-NAME]`
/// headers. Each member answers from its own queue, in turn with its other work, and its reply
/// goes to `team-chat-all/output` as one whole block, `[team-chat-from-NAME]` then the reply, as
/// soon as that member is done; a member that fails, is refused or runs past the round's
/// `timeout` gets one line `[team-chat-from-NAME] [error] reason` instead. With a `moderator`,
/// once every member is done the moderator is asked for a synthesis of all replies, printed
/// last as `[team-chat-from-NAME] [synthesis]`. In `discuss` mode, when the round ends, every
/// member's context also gets the other members' replies, attributed.
///
/// `output` reads like a socket's: consumed, blocking while any round is open, end of file
/// when none is. Replies are also in each member's transcript and context, never in its own
/// `output`. Nothing a model writes is parsed for headers.
///
/// Locking: the team's lock is a leaf. Sockets report to it under their own lock
/// (``memberFinished(_:socket:name:_:)``); it never calls a socket while holding it, and the
/// work a report starts (a synthesis, the discussion notes) runs later on its own queue.
public final class TeamChat: Sendable {
    let environment: SocketEnvironment
    private let registryBox = Mutex<WeakRegistry>(WeakRegistry())
    let state: Mutex<State>
    /// Where follow-up work runs: synthesis requests, discussion notes, timeouts.
    private let queue = DispatchQueue(label: "aifs.team")

    struct Member {
        let socket: SocketID
        var name: String
        /// This is the moderator's synthesis, not a member's answer.
        let synthesis: Bool
        var done = false
        var reply: [UInt8]?
    }

    enum Phase: Equatable {
        /// Waiting for the members' answers.
        case members
        /// Waiting for the moderator's synthesis.
        case synthesis
        /// Brought back from the store after a restart: collects what is still queued, nothing more.
        case restored
    }

    struct Round {
        let id: UInt64
        let question: [UInt8]
        var members: [Member]
        var phase: Phase
        let mode: TeamMode
        let moderator: String?
        let timeout: Double
        var isComplete: Bool { members.allSatisfy(\.done) }
    }

    struct State {
        var settings: TeamSettings
        var rounds: [UInt64: Round] = [:]
        var lastRoundID: UInt64 = 0
        var output: OutputBuffer
        var errors: ErrorLog
        var readers = ReaderQueue()
        var closed = false
    }

    init(environment: SocketEnvironment, restoring snapshot: TeamSnapshot = TeamSnapshot()) {
        self.environment = environment
        state = Mutex(State(settings: snapshot.settings, output: OutputBuffer(restoring: snapshot.output),
                            errors: ErrorLog(restoring: snapshot.errors)))
    }

    /// The registry the team chat looks sockets up in (held weakly; it owns the team chat).
    func attach(_ registry: SocketRegistry) {
        registryBox.withLock { $0.value = registry }
    }

    private var registry: SocketRegistry? { registryBox.withLock { $0.value } }

    public var settings: TeamSettings { state.withLock { $0.settings } }

    // MARK: Sending

    /// Sends one message (all bytes of one open → close of `team-chat-all/input`) and opens its
    /// round. `done` gets nil once every member's copy is committed (so `close()` means the
    /// message is durably queued everywhere it could go), or, when no member took it, why:
    /// `ENOENT` (a named socket does not exist; nothing is sent), `ENXIO` (no active socket),
    /// or the refusal of the only members (`EHOSTDOWN`, `EAGAIN`). Reasons go to `error`.
    ///
    /// With several users (`allow_other`), a broadcast reaches only the sockets the writer may
    /// write to, and a directed send to a socket they may not write to fails with `EACCES`.
    public func send(_ bytes: [UInt8], caller: Caller, done: @escaping @Sendable (Errno?) -> Void) {
        let uid = caller.uid
        guard let registry else { return done(.EIO) }
        let (headers, content) = MessageHeaders.parse(bytes, recipients: true)
        let broadcast = headers.recipients.isEmpty
        if content.isEmpty {
            reportError(kind: "team", "the message has headers but no content; message not sent")
            return done(.EINVAL)
        }
        var targets: [Socket] = []
        if broadcast {
            targets = registry.all().filter { $0.life == .active && $0.allows(.write, caller) }
            if targets.isEmpty {
                reportError(kind: "team", "no active socket to broadcast to; message not sent")
                return done(.ENXIO)
            }
        } else {
            var seen: Set<String> = []
            var missing: [String] = []
            for name in headers.recipients where seen.insert(name).inserted {
                if let socket = registry.socket(named: name) { targets.append(socket) } else { missing.append(name) }
            }
            if !missing.isEmpty {
                reportError(kind: "team", "no socket named \(missing.joined(separator: ", ")); message not sent")
                return done(.ENOENT)
            }
            let denied = targets.filter { !$0.allows(.write, caller) }.map(\.name)
            if !denied.isEmpty {
                reportError(kind: "team", "uid \(uid) may not write to \(denied.joined(separator: ", ")); message not sent")
                return done(.EACCES)
            }
        }
        let names = targets.map(\.name)
        let round: Round = state.withLock { s in
            let id = max(s.lastRoundID + 1, UInt64(WallClock.now() * 1_000_000))
            s.lastRoundID = id
            let round = Round(id: id, question: content,
                              members: zip(targets, names).map { Member(socket: $0.id, name: $1, synthesis: false) },
                              phase: .members, mode: s.settings.mode, moderator: s.settings.moderator, timeout: s.settings.timeout)
            s.rounds[id] = round
            return round
        }
        environment.store.record([.memory(MemoryEntry(
            time: WallClock.now(), socket: "team-chat-all", kind: .input, content: String(decoding: content, as: UTF8.self),
            metadata: ["round": "\(round.id)", "uid": "\(uid)", "to": broadcast ? "broadcast" : names.joined(separator: " ")]))])
        let tally = Tally(expected: targets.count, done: done)
        for (socket, name) in zip(targets, names) {
            let ticket = TeamTicket(round: round.id, synthesis: false, team: self)
            handOver(content, to: socket, priorityHigh: headers.priorityHigh, uid: uid, ticket: ticket, broadcast: broadcast) { [self] error in
                if let error { memberFinished(ticket, socket: socket.id, name: name, .failed(Self.refusal(error))) }
                tally.arrive(error)
            }
        }
        scheduleTimeout(round: round.id, phase: .members, after: round.timeout)
    }

    /// Gives one member its copy, as a change: the member's owner answers it, and its reply
    /// comes back here when the end of that request is applied.
    private func handOver(_ content: [UInt8], to socket: Socket, priorityHigh: Bool, uid: UInt32, ticket: TeamTicket, broadcast: Bool,
                          done: @escaping @Sendable (Errno?) -> Void) {
        let kind: MessageKind = ticket.synthesis ? .synthesis : (broadcast ? .broadcast : .team)
        environment.log.post(.submit(socket: socket.id, content: content, priorityHigh: priorityHigh, uid: uid,
                                     route: .team(round: ticket.round, synthesis: ticket.synthesis), kind: kind)) { result in
            done(result.errno)
        }
    }

    /// A refusal's errno in words, for the inline error line.
    static func refusal(_ error: Errno) -> String {
        switch error {
        case .EHOSTDOWN: return "socket is unresponsive; message not queued"
        case .EAGAIN: return "queue full; message not queued"
        case .ENOENT: return "socket removed; message not queued"
        default: return "message not queued (\(error))"
        }
    }

    // MARK: Members report

    /// A member's request ended. Called by the socket, possibly under its own lock: only the
    /// team's lock is taken here, and anything that follows runs later on the team's queue.
    func memberFinished(_ ticket: TeamTicket, socket: SocketID, name: String, _ outcome: TeamOutcome) {
        let followUp: FollowUp? = state.withLock { s in
            guard var round = s.rounds[ticket.round],
                  let index = round.members.firstIndex(where: { $0.socket == socket && $0.synthesis == ticket.synthesis && !$0.done })
            else { return nil }
            round.members[index].done = true
            round.members[index].name = name
            if case .reply(let reply) = outcome { round.members[index].reply = reply }
            appendLocked(&s, Self.block(name: name, synthesis: ticket.synthesis, outcome))
            s.rounds[round.id] = round
            let followUp = round.isComplete ? advanceLocked(&s, round.id) : nil
            deliverLocked(&s)
            return followUp
        }
        if let followUp { queue.async { [self] in run(followUp) } }
    }

    /// What a round needs once its phase is complete, done outside every lock.
    enum FollowUp {
        case synthesize(round: UInt64, moderator: String, prompt: [UInt8], timeout: Double)
        case discuss(round: UInt64, notes: [(socket: SocketID, text: [UInt8])])
    }

    /// The round's current phase is complete: start the synthesis, or close the round.
    private func advanceLocked(_ s: inout State, _ id: UInt64) -> FollowUp? {
        guard var round = s.rounds[id] else { return nil }
        if round.phase == .members, let moderator = round.moderator {
            round.phase = .synthesis
            s.rounds[id] = round
            return .synthesize(round: id, moderator: moderator, prompt: Self.synthesisPrompt(round), timeout: round.timeout)
        }
        s.rounds.removeValue(forKey: id)
        guard round.mode == .discuss, round.phase != .restored else { return nil }
        return .discuss(round: id, notes: Self.discussionNotes(round))
    }

    private func run(_ followUp: FollowUp) {
        switch followUp {
        case .synthesize(let id, let moderator, let prompt, let timeout):
            let socket = registry?.socket(named: moderator)
            let added: Bool = state.withLock { s in
                guard var round = s.rounds[id] else { return false }
                guard let socket else {
                    appendLocked(&s, Self.block(name: moderator, synthesis: true, .failed("no socket named \(moderator)")))
                    round.phase = .synthesis
                    s.rounds[id] = round
                    let next = advanceLocked(&s, id)
                    deliverLocked(&s)
                    if let next { queue.async { [self] in run(next) } }
                    return false
                }
                round.members.append(Member(socket: socket.id, name: moderator, synthesis: true))
                s.rounds[id] = round
                return true
            }
            guard added, let socket else { return }
            let ticket = TeamTicket(round: id, synthesis: true, team: self)
            handOver(prompt, to: socket, priorityHigh: false, uid: 0, ticket: ticket, broadcast: false) { [self] error in
                if let error { memberFinished(ticket, socket: socket.id, name: moderator, .failed(Self.refusal(error))) }
            }
            scheduleTimeout(round: id, phase: .synthesis, after: timeout)
        case .discuss(let id, let notes):
            guard registry != nil else { return }
            for note in notes {
                environment.log.post(.discussion(socket: note.socket, text: note.text, round: id))
            }
        }
    }

    private func scheduleTimeout(round id: UInt64, phase: Phase, after seconds: Double) {
        environment.timers.schedule(after: seconds, on: queue) { [self] in expire(round: id, phase: phase, after: seconds) }
    }

    /// The round's timeout passed: every member still working is reported and cancelled.
    private func expire(round id: UInt64, phase: Phase, after seconds: Double) {
        let reason = "timed out after \(Self.seconds(seconds)) s"
        let outcome: (cancel: [SocketID], followUp: FollowUp?) = state.withLock { s in
            guard var round = s.rounds[id], round.phase == phase else { return ([], nil) }
            var cancel: [SocketID] = []
            for index in round.members.indices where !round.members[index].done {
                round.members[index].done = true
                cancel.append(round.members[index].socket)
                appendLocked(&s, Self.block(name: round.members[index].name, synthesis: round.members[index].synthesis, .failed(reason)))
            }
            s.rounds[id] = round
            let followUp = advanceLocked(&s, id)
            deliverLocked(&s)
            return (cancel, followUp)
        }
        for socket in outcome.cancel {
            environment.log.post(.teamCancel(socket: socket, round: id, reason: "team chat round \(reason)"))
        }
        if let followUp = outcome.followUp { run(followUp) }
    }

    // MARK: Restore

    /// A team message found in a socket's queue at restart: its round is reopened (collecting
    /// only) and the ticket is bound to this team chat.
    func restoredTicket(_ ticket: TeamTicket, socket: SocketID, name: String) -> TeamTicket {
        state.withLock { s in
            var round = s.rounds[ticket.round] ?? Round(id: ticket.round, question: [], members: [], phase: .restored,
                                                        mode: s.settings.mode, moderator: nil, timeout: s.settings.timeout)
            round.members.append(Member(socket: socket, name: name, synthesis: ticket.synthesis))
            s.rounds[ticket.round] = round
            s.lastRoundID = max(s.lastRoundID, ticket.round)
        }
        return TeamTicket(round: ticket.round, synthesis: ticket.synthesis, team: self)
    }

    /// Starts the timeouts of rounds reopened at restart.
    func startRestoredRounds() {
        let rounds = state.withLock { s in s.rounds.values.filter { $0.phase == .restored }.map { ($0.id, $0.timeout) } }
        for (id, timeout) in rounds { scheduleTimeout(round: id, phase: .restored, after: timeout) }
    }

    // MARK: ctl

    /// The `key: value` text of `team-chat-all/ctl`.
    public func controlText() -> String {
        let members = registry?.all().filter { $0.life == .active }.map(\.name) ?? []
        return state.withLock { s in
            [
                "mode: \(s.settings.mode.rawValue)",
                "moderator: \(s.settings.moderator ?? "-")",
                "timeout: \(Self.seconds(s.settings.timeout))",
                "members: \(members.isEmpty ? "-" : members.joined(separator: " "))",
                "rounds-open: \(s.rounds.count)",
                "unread-bytes: \(s.output.unreadCount)",
            ].joined(separator: "\n") + "\n"
        }
    }

    /// Applies ctl commands (already parsed, so all or nothing); recorded.
    public func apply(_ commands: [TeamCommand]) {
        state.withLock { s in
            for command in commands {
                switch command {
                case .mode(let mode): s.settings.mode = mode
                case .moderator(let name): s.settings.moderator = name
                case .timeout(let seconds): s.settings.timeout = seconds
                }
            }
            environment.store.record([.teamSaved(s.settings)])
        }
    }

}

/// Counts the members' acknowledgements of one team message and answers its writer once all
/// are in: success if any member took it, else the first refusal.
private final class Tally: Sendable {
    private struct Count {
        var remaining: Int
        var accepted = 0
        var firstError: Errno?
    }
    private let count: Mutex<Count>
    private let done: @Sendable (Errno?) -> Void

    init(expected: Int, done: @escaping @Sendable (Errno?) -> Void) {
        count = Mutex(Count(remaining: expected))
        self.done = done
    }

    func arrive(_ error: Errno?) {
        let result: Errno?? = count.withLock { c in
            c.remaining -= 1
            if let error { c.firstError = c.firstError ?? error } else { c.accepted += 1 }
            guard c.remaining == 0 else { return .none }
            return .some(c.accepted > 0 ? nil : c.firstError)
        }
        if case .some(let error) = result { done(error) }
    }
}

/// A weak reference to the registry (which owns the team chat).
struct WeakRegistry {
    weak var value: SocketRegistry?
}
