/// What a socket's request lifecycle and its `error` lines say in `/ai/events`: a request
/// started, a request ended (duration, time to first token, tokens, outcome), an error. Called
/// with the socket's lock held, where they happen; every daemon of a cluster runs them at the
/// same point of the log, at the change's time.
extension Socket {
    func eventLocked(_ s: State, _ type: String, uid: UInt32? = nil, _ fields: [(String, EventValue)]) {
        guard !s.closed else { return }
        let events = environment.events
        events.record(AIEvent(type, socket: s.name, uid: uid ?? events.causeUID,
                              audience: EventAudience(uid: s.uid, gid: s.gid, mode: s.mode), fields))
    }

    private static func route(_ route: ReplyRoute) -> String {
        switch route {
        case .output: return "input"
        case .chat: return "chat"
        case .team: return "team"
        case .compaction: return "compaction"
        }
    }

    /// `work` became the request in flight now.
    func requestStartedLocked(_ s: State, _ work: Work) {
        eventLocked(s, "request_started", uid: work.message.uid,
                    [("message", .int(Int(clamping: work.message.id))), ("via", .string(Self.route(work.message.route))), ("model", .string(s.model))])
    }

    /// The request in flight ended with `outcome`.
    func requestEndedLocked(_ s: State, _ work: Work, _ outcome: Outcome) {
        let now = WallClock.now()
        let (word, reason): (String, EventValue) = switch outcome {
        case .completed: ("completed", .null)
        case .failed(let why): ("failed", .string(why))
        case .cancelled(let why): ("cancelled", .string(why))
        }
        eventLocked(s, "request_ended", uid: work.message.uid, [
            ("message", .int(Int(clamping: work.message.id))), ("outcome", .string(word)), ("reason", reason),
            ("duration", .double(max(0, now - work.startedWallTime))),
            ("first_token", work.firstTextTime.map { .double(max(0, $0 - work.startedWallTime)) } ?? .null),
            ("tokens_in", .int(work.tokensIn)), ("tokens_out", .int(work.tokensOut)),
            ("bytes_out", .int(work.reply.count)),
        ])
    }

    /// A line was added to `error`.
    func errorEventLocked(_ s: State, kind: String, _ message: String) {
        eventLocked(s, "error", [("kind", .string(kind)), ("message", .string(message))])
    }
}
