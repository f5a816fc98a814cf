import FuseKit
import Synchronization

/// `inbox` (agent sockets): each open reads the message the agent is to answer now — written
/// to `input`, sent by a broadcast, a team round, a wire, a `chat` descriptor or an `ask` —
/// then end of file. A read blocks while there is no message (`EAGAIN` with `O_NONBLOCK`,
/// `EINTR` when interrupted); the same message is read again by every open until the agent
/// has replied through `outbox`. `EIO` once the daemon stops.
final class InboxFile: OpenFile, @unchecked Sendable {
    let inbox: AgentInbox
    private let bound = Mutex<(number: UInt64, bytes: [UInt8], cursor: Int)?>(nil)

    init(inbox: AgentInbox) { self.inbox = inbox }

    func bind(number: UInt64, bytes: [UInt8]) {
        bound.withLock { if $0 == nil { $0 = (number, bytes, 0) } }
    }

    /// The next bytes of the bound message (end of file after its last).
    func answer(_ request: consuming Request, size: Int) {
        let bytes: [UInt8] = bound.withLock { b in
            guard var message = b else { return [] }
            let slice = message.bytes.slice(offset: Int64(message.cursor), size: size)
            message.cursor += slice.count
            b = message
            return slice
        }
        request.reply(bytes: bytes)
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        if bound.withLock({ $0 != nil }) { return answer(request, size: size) }
        inbox.read(request, file: self, size: size, nonBlocking: info.isNonBlocking)
    }
}
