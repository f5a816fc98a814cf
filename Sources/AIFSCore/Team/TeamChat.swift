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
/// member's context also gets the other members' replies, attributed. In `race` mode the first
/// complete answer ends the round and the other members are cancelled (TeamChat+Race.swift);
/// in `fallback A,B,C` mode one member is asked at a time (TeamChat+Fallback.swift).
///
/// `output` reads like a socket's: consumed, blocking while any round is open, end of file
/// when none is. Replies are also in each member's transcript and context, never in its own
/// `output`. Nothing a model writes is parsed for headers.
///
/// Locking: the team's lock is a leaf. Sockets report to it under their own lock
/// (``memberFinished(_:socket:name:_:)``); it never calls a socket while holding it, and the
/// work a report starts (a synthesis, the discussion notes, cancelling a race's losers, asking
/// a fallback's next member) runs later on its own queue, as changes posted to the log.
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
        /// `fallback`: the members still to ask, and how.
        var fallback: FallbackPlan?
        /// Counts the member timeouts armed (one per member asked in `fallback`), so that a
        /// timeout armed for an earlier member does nothing.
        var step = 0
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

    var registry: SocketRegistry? { registryBox.withLock { $0.value } }

    public var settings: TeamSettings { state.withLock { $0.settings } }
    /// Reads of `team-chat-all/output` parked until there is something to answer.
    public var parkedReaders: Int { state.withLock { $0.readers.parkedCount } }

    // MARK: Sending

    /// Sends one message (all bytes of one open → close of `team-chat-all/input`) and opens its
    /// round. `done` gets nil once every member's copy is committed (so `close()` means the
    /// message is durably queued everywhere it could go), or, when no member took it, why:
    /// `ENOENT` (a named socket does not exist; nothing is sent), `ENXIO` (no active socket),
    /// or the refusal of the only members (`EHOSTDOWN`, `EAGAIN`). Reasons go to `error`.
    ///
    /// With several users (`allow_other`), a broadcast reaches only the sockets the writer may
    /// write to, and a directed send to a socket they may not write to fails with `EACCES`.
    /// A `race` round is sent like this too; a `fallback` round asks one member at a time
    /// (``sendFallback(_:names:headers:caller:settings:registry:done:)``).
    public func send(_ bytes: [UInt8], caller: Caller, done: @escaping @Sendable (Errno?) -> Void) {
        guard let registry else { return done(.EIO) }
        let (headers, content) = MessageHeaders.parse(bytes, recipients: true)
        let broadcast = headers.recipients.isEmpty
        if content.isEmpty {
            reportError(kind: "team", "the message has headers but no content; message not sent")
            return done(.EINVAL)
        }
        let settings = self.settings
        if case .fallback(let names) = settings.mode {
            return sendFallback(content, names: names, headers: headers, caller: caller, settings: settings, registry: registry, done: done)
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
                reportError(kind: "team", "uid \(caller.uid) may not write to \(denied.joined(separator: ", ")); message not sent")
                return done(.EACCES)
            }
        }
        let names = targets.map(\.name)
        let round = openRound(content, settings: settings, members: zip(targets, names).map { Member(socket: $0.id, name: $1, synthesis: false) })
        recordQuestion(round, uid: caller.uid, to: broadcast ? "broadcast" : names.joined(separator: " "))
        let tally = Tally(expected: targets.count, done: done)
        for (socket, name) in zip(targets, names) {
            let ticket = TeamTicket(round: round.id, synthesis: false, team: self)
            handOver(content, to: socket, priorityHigh: headers.priorityHigh, uid: caller.uid, ticket: ticket, broadcast: broadcast) { [self] error in
                if let error { memberFinished(ticket, socket: socket.id, name: name, .failed(Self.refusal(error))) }
                tally.arrive(error)
            }
        }
        scheduleTimeout(round: round.id, phase: .members, step: 0, after: round.timeout)
    }

    /// Opens a round with the settings in force when its message came: its mode, timeout, and
    /// the moderator if the mode asks one.
    func openRound(_ content: [UInt8], settings: TeamSettings, members: [Member], fallback: FallbackPlan? = nil) -> Round {
        state.withLock { s in
            let id = max(s.lastRoundID + 1, UInt64(WallClock.now() * 1_000_000))
            s.lastRoundID = id
            let round = Round(id: id, question: content, members: members, phase: .members, mode: settings.mode,
                              moderator: settings.mode.asksModerator ? settings.moderator : nil, timeout: settings.timeout, fallback: fallback)
            s.rounds[id] = round
            return round
        }
    }

    /// The round's message in memory: one `input` entry for the whole round.
    func recordQuestion(_ round: Round, uid: UInt32, to: String) {
        environment.store.record([.memory(MemoryEntry(
            time: WallClock.now(), socket: "team-chat-all", kind: .input, content: String(decoding: round.question, as: UTF8.self),
            metadata: ["round": "\(round.id)", "uid": "\(uid)", "to": to]))])
    }

    /// Gives one member its copy, as a change: the member's owner answers it, and its reply
    /// comes back here when the end of that request is applied.
    func handOver(_ content: [UInt8], to socket: Socket, priorityHigh: Bool, uid: UInt32, ticket: TeamTicket, broadcast: Bool,
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
    /// In `race` the first reply cancels the others; in `fallback` anything but a reply asks
    /// the next member.
    func memberFinished(_ ticket: TeamTicket, socket: SocketID, name: String, _ outcome: TeamOutcome) {
        let followUps: [FollowUp] = state.withLock { s in
            guard var round = s.rounds[ticket.round],
                  let index = round.members.firstIndex(where: { $0.socket == socket && $0.synthesis == ticket.synthesis && !$0.done })
            else { return [] }
            round.members[index].done = true
            round.members[index].name = name
            if case .reply(let reply) = outcome { round.members[index].reply = reply }
            appendLocked(&s, Self.block(name: name, synthesis: ticket.synthesis, outcome))
            s.rounds[round.id] = round
            var followUps: [FollowUp] = []
            if round.phase == .members, !ticket.synthesis {
                switch (round.mode, outcome) {
                case (.race, .reply):
                    followUps += raceWonLocked(&s, round.id, winner: name)
                case (.fallback, .failed), (.fallback, .cancelled):
                    deliverLocked(&s)
                    return [.fallback(round: round.id)]
                default:
                    break
                }
            }
            if s.rounds[round.id]?.isComplete == true, let next = advanceLocked(&s, round.id) { followUps.append(next) }
            deliverLocked(&s)
            return followUps
        }
        for followUp in followUps { queue.async { [self] in run(followUp) } }
    }

    /// What a round needs once its phase is complete, done outside every lock.
    enum FollowUp {
        case synthesize(round: UInt64, moderator: String, prompt: [UInt8], timeout: Double)
        case discuss(round: UInt64, notes: [(socket: SocketID, text: [UInt8])])
        /// Members the round no longer waits for: their requests are cancelled (as changes).
        case cancel(round: UInt64, sockets: [SocketID], reason: String)
        /// `fallback`: ask the next member.
        case fallback(round: UInt64)
    }

    /// The round's current phase is complete: start the synthesis, or close the round.
    func advanceLocked(_ s: inout State, _ id: UInt64) -> FollowUp? {
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

    func run(_ followUp: FollowUp) {
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
            scheduleTimeout(round: id, phase: .synthesis, step: 0, after: timeout)
        case .discuss(let id, let notes):
            guard registry != nil else { return }
            for note in notes {
                environment.log.post(.discussion(socket: note.socket, text: note.text, round: id))
            }
        case .cancel(let id, let sockets, let reason):
            for socket in sockets {
                environment.log.post(.teamCancel(socket: socket, round: id, reason: reason))
            }
        case .fallback(let id):
            askNext(round: id)
        }
    }

    /// Arms the deadline of a round's phase; `step` tells one `fallback` member's from the next.
    func scheduleTimeout(round id: UInt64, phase: Phase, step: Int, after seconds: Double) {
        environment.timers.schedule(after: seconds, on: queue) { [self] in expire(round: id, phase: phase, step: step, after: seconds) }
    }

    /// The round's timeout passed: every member still working is reported and cancelled. In
    /// `fallback` the next member is asked then.
    private func expire(round id: UInt64, phase: Phase, step: Int, after seconds: Double) {
        let reason = "timed out after \(Self.seconds(seconds)) s"
        let followUps: [FollowUp] = state.withLock { s in
            guard var round = s.rounds[id], round.phase == phase, round.step == step else { return [] }
            var cancel: [SocketID] = []
            for index in round.members.indices where !round.members[index].done {
                round.members[index].done = true
                cancel.append(round.members[index].socket)
                appendLocked(&s, Self.block(name: round.members[index].name, synthesis: round.members[index].synthesis, .failed(reason)))
            }
            s.rounds[id] = round
            var followUps: [FollowUp] = [.cancel(round: id, sockets: cancel, reason: "team chat round \(reason)")]
            if case .fallback = round.mode, round.phase == .members {
                followUps.append(.fallback(round: id))
            } else if let next = advanceLocked(&s, id) {
                followUps.append(next)
            }
            deliverLocked(&s)
            return followUps
        }
        for followUp in followUps { run(followUp) }
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
