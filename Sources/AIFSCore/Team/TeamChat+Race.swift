/// `mode race`: every addressed member is asked at once and the first complete answer wins.
///
/// The round opens like a `fanout` round (``TeamChat/send(_:caller:done:)``): one copy per
/// member, all queued at once, one deadline for the whole round. A member that fails or is
/// refused is printed as it happens (`[team-chat-from-NAME] [error] reason`), as in `fanout`.
/// The first reply is printed whole, and at that moment every member still queued or working
/// gets one line, `[team-chat-from-NAME] [cancelled] lost the race to WINNER`, and the round
/// ends (its readers get end of file). The losers' requests are then cancelled through the log
/// (``Change/teamCancel(socket:round:reason:)``), so the socket's owner aborts the provider
/// call wherever it runs (an HTTP request is closed, an `exec` child killed) and the socket's
/// `error` and transcript say `cancelled: lost the race to WINNER`. When every member fails
/// the round ends with every failure printed. No moderator is asked (``TeamMode/asksModerator``).
extension TeamChat {

    /// `winner` answered first in round `id`: every member not done yet is marked done and
    /// printed as having lost, and their cancellation is returned to run outside the lock.
    func raceWonLocked(_ s: inout State, _ id: UInt64, winner: String) -> [FollowUp] {
        guard var round = s.rounds[id] else { return [] }
        var losers: [SocketID] = []
        for index in round.members.indices where !round.members[index].done && !round.members[index].synthesis {
            round.members[index].done = true
            losers.append(round.members[index].socket)
            appendLocked(&s, Self.lostBlock(name: round.members[index].name, winner: winner))
        }
        s.rounds[id] = round
        return losers.isEmpty ? [] : [.cancel(round: id, sockets: losers, reason: Self.lostReason(winner))]
    }

    /// Why a loser's request was cancelled, in its `error` and transcript.
    static func lostReason(_ winner: String) -> String { "lost the race to \(winner)" }

    /// The line a loser gets in `output`.
    static func lostBlock(name: String, winner: String) -> [UInt8] {
        Array("[team-chat-from-\(name)] [cancelled] \(lostReason(winner))\n".utf8)
    }
}
