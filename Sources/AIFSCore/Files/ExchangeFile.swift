import FuseKit
import Synchronization

/// A descriptor that carries one exchange (`chat`, `brain`, `network`): what is written is one
/// request, sent at the first read (or poll, or close); the answer streams back on this
/// descriptor only (``ChatStream``), then end of file. A subclass says how a request is sent
/// (``send(_:)``); this class holds the buffer and answers every operation.
///
/// `write`: `EINVAL` once the request was sent (one exchange per descriptor), `EFBIG` past
/// `limit` (the reason in `error`). `read`: the errno the request was refused with, `EAGAIN`
/// with `O_NONBLOCK` while the answer is on its way, `EINTR` when interrupted while parked,
/// `EIO` once after a failed request. `flush` (each `close`): sends a request still unsent and
/// answers its refusal. `release`: ``sendsAtRelease`` decides whether an unsent request still
/// goes; the task answering it (``started(_:)``), if any, is cancelled.
class ExchangeFile: OpenFile {
    let socket: Socket
    let limit: Int
    let stream = ChatStream()
    private var buffer: [UInt8] = []
    private var sent = false
    /// A refusal a poll met while sending the request: the next read or close reports it.
    private var refusal: Errno?
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(socket: Socket, limit: Int) {
        self.socket = socket
        self.limit = limit
    }

    /// Sends `request`, which is empty only where ``sendsEmpty``; nil, or why it was refused
    /// (then the stream is finished here).
    func send(_ request: [UInt8]) -> Errno? { fatalError("ExchangeFile.send is abstract") }

    /// The `error` line of a write past `limit`: which file, and what is too large.
    var oversize: (kind: String, what: String) { ("chat", "message") }

    /// Whether an empty request is sent (`network` answers it with a JSON error) rather than
    /// read as end of file at once.
    var sendsEmpty: Bool { false }

    /// Whether a request unsent at the last close still goes (`chat`: the message of a
    /// descriptor closed without a flush is still the socket's, and its exchange is recorded).
    var sendsAtRelease: Bool { false }

    /// Records the task that answers the request, cancelled at release (closing early cancels).
    func started(_ work: Task<Void, Never>) { task.withLock { $0 = work } }

    /// Sends the request if it has not gone yet; nil, or why it was refused.
    private func sendIfNeeded() -> Errno? {
        guard !sent else { return nil }
        sent = true
        guard !buffer.isEmpty || sendsEmpty else {
            stream.finish()
            return nil
        }
        let request = buffer
        buffer = []
        if let error = send(request) {
            stream.finish()
            return error
        }
        return nil
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        guard !sent else { return request.reply(error: .EINVAL) }
        guard buffer.count + data.count <= limit else {
            let (kind, what) = oversize
            socket.reportError(kind: kind, "\(what) over \(limit) bytes refused")
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
        // A request still unsent goes now; a closing writer-only descriptor has no reader.
        guard !sent, !buffer.isEmpty else { return request.replyOK() }
        if let error = sendIfNeeded() { return request.reply(error: error) }
        request.replyOK()
    }

    override func release() {
        if sendsAtRelease { _ = sendIfNeeded() }
        task.withLock { $0 }?.cancel()
    }

    override func poll(_ request: consuming Request, handle: PollHandle?) {
        // Waiting for the answer means the request is complete: send it, as a read would. A
        // refusal is kept for the next read or close (a poll answer cannot carry an errno).
        if !buffer.isEmpty, let error = sendIfNeeded() {
            refusal = error
            return request.reply(poll: [.readable, .error])
        }
        // Always writable (a write after the send fails EINVAL), like every file but `output`.
        request.reply(poll: stream.poll(owner: self, handle: handle).union(.writable))
    }
}
