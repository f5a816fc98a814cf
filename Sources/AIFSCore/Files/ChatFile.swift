import FuseKit

/// `chat`: a private exchange on one descriptor (``ExchangeFile``). What is written is one
/// message, sent at the first read (or poll, or close); its reply streams back on this
/// descriptor only, then end of file.
///
/// `write`: `EINVAL` once the message was sent (one exchange per descriptor), `EFBIG` past
/// `[limits] message_bytes` (reason in `error`). `read`: the refusal of the message (`EINVAL`,
/// `EHOSTDOWN`, `EAGAIN`, `ENOENT`), `EAGAIN` with `O_NONBLOCK` while the reply is on its way,
/// `EINTR` when interrupted while parked, `EIO` once after a failed request.
final class ChatFile: ExchangeFile {
    let uid: UInt32

    init(socket: Socket, uid: UInt32, limit: Int) {
        self.uid = uid
        super.init(socket: socket, limit: limit)
    }

    override func send(_ request: [UInt8]) -> Errno? { socket.submitChat(request, uid: uid, into: stream) }

    override var sendsAtRelease: Bool { true }
}
