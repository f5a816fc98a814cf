import FuseKit

/// Where the messages written to an `input` file go: a socket, or the team chat.
protocol MessageSink: AnyObject, Sendable {
    /// Says in `error` that a message over `limit` bytes was refused.
    func refuseOversized(limit: Int)
    /// Checked before the first byte of a message is taken: `EAGAIN` when the queue is full.
    func checkRoom() throws(Errno)
    /// Where a sender waits for its turn at the store (``UIDAdmission``).
    var admission: UIDAdmission { get }
    /// Sends one whole message; `done` once it is committed (or refused).
    func send(_ message: [UInt8], caller: Caller, done: @escaping @Sendable (Errno?) -> Void)
}

/// `input` and `team-chat-all/input`: everything written between open and close is one
/// message, sent at the first flush that has bytes (so `close()` returns once it is committed).
///
/// - `write`: `EFBIG` once the message passes `[limits] message_bytes` (nothing is sent, every
///   later write and the close fail too, the reason is in `error`); `EAGAIN` at the first write
///   when the socket's queue is full.
/// - `flush`: the message's fate: `EINVAL` (headers but no content), `ENOENT` (the socket was
///   removed, or a `[team-chat-to-NAME]` names none), `ENXIO` (no team member is active),
///   `EHOSTDOWN` (unresponsive), `EAGAIN`, `EACCES`, `EIO` (not stored), `ENOSPC`.
/// - `release`: bytes no flush sent (the writer was killed) are still one message.
final class InputFile: OpenFile {
    let sink: any MessageSink
    let caller: Caller
    let limit: Int
    private var buffer: [UInt8] = []
    /// Once a write failed (`EFBIG`), the whole message is refused.
    private var failure: Errno?

    init(sink: any MessageSink, caller: Caller, limit: Int) {
        self.sink = sink
        self.caller = caller
        self.limit = limit
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        if let failure { return request.reply(error: failure) }
        if buffer.count + data.count > limit {
            failure = .EFBIG
            buffer = []
            sink.refuseOversized(limit: limit)
            return request.reply(error: .EFBIG)
        }
        if buffer.isEmpty {
            do { try sink.checkRoom() } catch { return request.reply(error: error) }
            // O_NONBLOCK: a caller whose uid already has its share waiting for the store.
            if info.isNonBlocking, sink.admission.isFull(caller.uid) { return request.reply(error: .EAGAIN) }
        }
        buffer.append(contentsOf: data)
        request.reply(written: data.count)
    }

    override func flush(_ request: consuming Request) {
        if let failure { return request.reply(error: failure) }
        guard !buffer.isEmpty else { return request.replyOK() }
        let message = buffer
        buffer = []
        // close() returns only once the message is committed; the loop thread moves on.
        let pending = PendingRequest(request, interruptible: false)
        sink.admission.enter(caller.uid) { [sink, caller] leave in
            sink.send(message, caller: caller) { error in
                defer { leave() }
                guard let request = pending.take() else { return }
                if let error { request.reply(error: error) } else { request.replyOK() }
            }
        }
    }

    override func release() {
        guard failure == nil, !buffer.isEmpty else { return }
        sink.send(buffer, caller: caller) { _ in }
        buffer = []
    }
}

extension Socket: MessageSink {
    func refuseOversized(limit: Int) {
        reportError(kind: "input", "message over \(limit) bytes refused (EFBIG); nothing was queued")
    }

    func checkRoom() throws(Errno) {
        do { try checkQueueRoom() } catch { throw error.errno }
    }

    func send(_ message: [UInt8], caller: Caller, done: @escaping @Sendable (Errno?) -> Void) {
        submit(message, uid: caller.uid, done: done)
    }

    var admission: UIDAdmission { environment.admission }
}

extension TeamChat: MessageSink {
    func refuseOversized(limit: Int) {
        reportError(kind: "input", "message over \(limit) bytes refused (EFBIG); nothing was sent")
    }

    func checkRoom() throws(Errno) {}

    var admission: UIDAdmission { environment.admission }
}
