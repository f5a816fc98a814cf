import FuseKit

/// `prompt`: a private copy of the system prompt, edited with regular-file semantics (offsets,
/// `O_APPEND`, `O_TRUNC`, `ftruncate`) and stored as a ``Change/prompt(socket:bytes:)`` at the
/// first flush after a change, so editors and `sed -i` work.
///
/// `write`: `EFBIG` past `[limits] prompt_bytes` (reason in `error`). `flush`: `EFBIG`,
/// `ENOENT` (the socket was removed), `EIO` (not stored).
final class PromptFile: OpenFile {
    let socket: Socket
    let log: any ChangeLog
    let limit: Int
    private var buffer: [UInt8]
    private var dirty: Bool

    init(socket: Socket, log: any ChangeLog, limit: Int, truncate: Bool) {
        self.socket = socket
        self.log = log
        self.limit = limit
        self.buffer = truncate ? [] : socket.prompt
        self.dirty = truncate
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        request.reply(bytes: buffer.slice(offset: offset, size: size))
    }

    override func write(_ request: consuming Request, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        let start = info.isAppend ? buffer.count : Int(clamping: offset)
        let (end, overflow) = start.addingReportingOverflow(data.count)
        guard !overflow, end <= limit else {
            socket.reportError(kind: "prompt", "prompt over \(limit) bytes refused")
            return request.reply(error: .EFBIG)
        }
        if buffer.count < end { buffer += [UInt8](repeating: 0, count: end - buffer.count) }
        buffer.replaceSubrange(start..<end, with: data)
        dirty = true
        request.reply(written: data.count)
    }

    /// `ftruncate` on this descriptor: the copy changes, stored at the next flush.
    func truncate(to size: UInt64) {
        buffer = buffer.resized(to: size)
        dirty = true
    }

    /// `fallocate` mode 0: zeros up to `size` if the copy is shorter (the caller checked the limit).
    func extend(to size: Int) {
        guard buffer.count < size else { return }
        buffer += [UInt8](repeating: 0, count: size - buffer.count)
        dirty = true
    }

    override func flush(_ request: consuming Request) {
        guard dirty else { return request.replyOK() }
        dirty = false
        let uid = request.context.uid
        let pending = PendingRequest(request, interruptible: false)
        let bytes = buffer
        socket.environment.admission.post(.prompt(socket: socket.id, bytes: bytes), as: uid, to: log) { result in
            guard let request = pending.take() else { return }
            if let error = result.errno { request.reply(error: error) } else { request.replyOK() }
        }
    }

    override func release() {
        guard dirty else { return }
        log.post(.prompt(socket: socket.id, bytes: buffer))
    }
}
