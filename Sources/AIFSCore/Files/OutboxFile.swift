import FuseKit

/// `outbox` (agent sockets): what is written after a message was read from `inbox` is that
/// message's reply, sent when the descriptor is closed (its first `close` with bytes written).
/// `EINVAL` (reason in `error`) for a write when no message was read, or after the reply was
/// sent; `EFBIG` past `[limits] reply_bytes`.
final class OutboxFile: OpenFile {
    let socket: Socket
    let limit: Int
    private var message: UInt64?
    private var buffer: [UInt8] = []
    private var sent = false

    init(socket: Socket, limit: Int) {
        self.socket = socket
        self.limit = limit
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        guard !sent else {
            socket.reportError(kind: "outbox", "a reply was already sent on this descriptor; open outbox again for the next")
            return request.reply(error: .EINVAL)
        }
        if message == nil {
            guard let number = socket.agentInbox.readMessage else {
                socket.reportError(kind: "outbox", "no message to reply to: read one from inbox first")
                return request.reply(error: .EINVAL)
            }
            message = number
        }
        guard buffer.count + data.count <= limit else {
            socket.reportError(kind: "outbox", "reply over \(limit) bytes refused ([limits] reply_bytes)")
            return request.reply(error: .EFBIG)
        }
        buffer.append(contentsOf: data)
        request.reply(written: data.count)
    }

    override func flush(_ request: consuming Request) {
        send()
        request.replyOK()
    }

    override func release() { send() }

    private func send() {
        guard !sent, let message, !buffer.isEmpty else { return }
        sent = true
        if !socket.agentInbox.reply(to: message, buffer) {
            socket.reportError(kind: "outbox", "the reply was dropped: its message is no longer waiting (cancelled)")
        }
        buffer = []
    }
}
