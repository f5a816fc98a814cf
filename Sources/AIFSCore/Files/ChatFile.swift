import FuseKit

/// `chat`: a private exchange on one descriptor. What is written is one message, sent at the
/// first read (or poll, or close); its reply streams back on this descriptor only, then end of
/// file.
///
/// `write`: `EINVAL` once the message was sent (one exchange per descriptor), `EFBIG` past
/// `[limits] message_bytes` (reason in `error`). `read`: the refusal of the message (`EINVAL`,
/// `EHOSTDOWN`, `EAGAIN`, `ENOENT`), `EAGAIN` with `O_NONBLOCK` while the reply is on its way,
/// `EINTR` when interrupted while parked, `EIO` once after a failed request.
final class ChatFile: OpenFile {
    let socket: Socket
    let uid: UInt32
    let limit: Int
    let stream = ChatStream()
    private var buffer: [UInt8] = []
    private var sent = false
    /// A refusal a poll met while sending the message: the next read or close reports it.
    private var refusal: Errno?

    init(socket: Socket, uid: UInt32, limit: Int) {
        self.socket = socket
        self.uid = uid
        self.limit = limit
    }

    /// Sends the message if it has not gone yet; nil, or why it was refused.
    private func sendIfNeeded() -> Errno? {
        guard !sent else { return nil }
        sent = true
        guard !buffer.isEmpty else {
            stream.finish()
            return nil
        }
        defer { buffer = [] }
        if let error = socket.submitChat(buffer, uid: uid, into: stream) {
            stream.finish()
            return error
        }
        return nil
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        guard !sent else { return request.reply(error: .EINVAL) }
        guard buffer.count + data.count <= limit else {
            socket.reportError(kind: "chat", "message over \(limit) bytes refused")
            return request.reply(error: .EFBIG)
        }
        buffer.append(contentsOf: data)
        request.reply(written: data.count)
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        if let error = refusal.take() ?? sendIfNeeded() { return request.reply(error: error) }
        stream.read(request, size: size, nonBlocking: info.isNonBlocking)
    }

    override func flush(_ request: consuming Request) {
        if let error = refusal.take() { return request.reply(error: error) }
        // A message still unsent goes now; a closing writer-only descriptor has no reader.
        guard !sent, !buffer.isEmpty else { return request.replyOK() }
        if let error = sendIfNeeded() { return request.reply(error: error) }
        request.replyOK()
    }

    override func release() {
        _ = sendIfNeeded()
    }

    override func poll(_ request: consuming Request, handle: PollHandle?) {
        // Waiting for the reply means the message is complete: send it, as a read would. A
        // refusal is kept for the next read or close (a poll answer cannot carry an errno).
        if !buffer.isEmpty, let error = sendIfNeeded() {
            refusal = error
            return request.reply(poll: [.readable, .error])
        }
        // Like every file but `output`, always writable (a write after the send fails EINVAL).
        request.reply(poll: stream.poll(owner: self, handle: handle).union(.writable))
    }
}
