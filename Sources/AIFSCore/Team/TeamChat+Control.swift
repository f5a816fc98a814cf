/// `team-chat-all/ctl` (its text and its commands) and the rounds reopened at a restart.
extension TeamChat {

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
        for (id, timeout) in rounds { scheduleTimeout(round: id, phase: .restored, step: 0, after: timeout) }
    }

    // MARK: ctl

    /// The `key: value` text of `team-chat-all/ctl`. `members` is who a message without
    /// headers reaches now: the active sockets, or in `fallback` the listed sockets that exist,
    /// in the order they would be asked.
    public func controlText() -> String {
        let settings = self.settings
        let members: [String]
        if case .fallback(let names) = settings.mode {
            members = names.filter { registry?.socket(named: $0) != nil }
        } else {
            members = registry?.all().filter { $0.life == .active }.map(\.name) ?? []
        }
        return state.withLock { s in
            [
                "mode: \(s.settings.mode.text)",
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
