import FuseKit

/// The texts of a round: the `[team-chat-from-NAME]` blocks, the moderator's synthesis prompt
/// and the `discuss` notes each member gets in the next round.
extension TeamChat {

    /// One block of `output`: the header line, then the whole reply (ending in a newline), or
    /// one `[error]` line.
    static func block(name: String, synthesis: Bool, _ outcome: TeamOutcome) -> [UInt8] {
        let header = "[team-chat-from-\(name)]" + (synthesis ? " [synthesis]" : "")
        switch outcome {
        case .reply(let reply):
            var bytes = Array((header + "\n").utf8) + reply
            if bytes.last != 0x0A { bytes.append(0x0A) }
            return bytes
        case .failed(let reason), .cancelled(let reason):
            return Array("\(header) [error] \(oneLine(reason))\n".utf8)
        }
    }

    /// What the moderator is asked: the message, then every member's reply, attributed.
    static func synthesisPrompt(_ round: Round) -> [UInt8] {
        var text = Array("Synthesize the team's replies to this message into one answer.\n\nMessage:\n".utf8) + round.question
        if text.last != 0x0A { text.append(0x0A) }
        for member in round.members where !member.synthesis {
            text += Array("\n[team-chat-from-\(member.name)]\n".utf8)
            if let reply = member.reply {
                text += reply
                if text.last != 0x0A { text.append(0x0A) }
            } else {
                text += Array("(no reply)\n".utf8)
            }
        }
        return text
    }

    /// For each member, the other members' replies (and the synthesis), attributed.
    static func discussionNotes(_ round: Round) -> [(socket: SocketID, text: [UInt8])] {
        var notes: [(socket: SocketID, text: [UInt8])] = []
        var seen: Set<SocketID> = []
        for member in round.members where !member.synthesis && seen.insert(member.socket).inserted {
            var text: [UInt8] = []
            for other in round.members where other.socket != member.socket || other.synthesis {
                guard let reply = other.reply else { continue }
                if !text.isEmpty { text.append(0x0A) }
                text += Array("[team-chat-from-\(other.name)]\(other.synthesis ? " [synthesis]" : "")\n".utf8) + reply
                if text.last != 0x0A { text.append(0x0A) }
            }
            if !text.isEmpty { notes.append((member.socket, text)) }
        }
        return notes
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
