import FuseKit
import Synchronization

/// The private reply stream of one open `chat` descriptor.
///
/// The socket's worker appends the reply here instead of to `output`, so a reader of this
/// descriptor sees exactly its own reply, then end of file; a failed request reads as `EIO`
/// once. Reads that find nothing yet are parked (no thread) until the worker appends or ends.
public final class ChatStream: Sendable {
    private struct State {
        var buffer = OutputBuffer()
        /// The reply is complete (or will never come): reads at the end get end of file.
        var finished = false
        var readers = ReaderQueue()
    }
    private let state = Mutex(State())

    public init() {}

    func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        state.withLock { s in
            s.buffer.append(bytes)
            Self.deliverLocked(&s)
        }
    }

    /// Ends the reply; with `failed`, a read gets `EIO` once after the bytes so far.
    func finish(failed: Bool = false) {
        state.withLock { s in
            guard !s.finished else { return }
            if failed { s.buffer.appendFailure() }
            s.finished = true
            Self.deliverLocked(&s)
        }
    }

    /// Answers a read: bytes now, `EIO` once after a failure, `EAGAIN` (non-blocking) or parked
    /// while the reply is on its way, end of file after it.
    func read(_ request: consuming Request, size: Int, nonBlocking: Bool) {
        let answer: OutputBuffer.ReadResult? = state.withLock { s in
            let result = s.buffer.read(max: size)
            if result != .nothing || s.finished { return result }
            return nil
        }
        if let answer { return ReaderQueue.answer(request, answer) }
        if nonBlocking { return request.reply(error: .EAGAIN) }
        let pending = PendingRequest(request, interruptible: true, onInterrupt: { [weak self] in
            self?.state.withLock { $0.readers.dropAnswered() }
        })
        state.withLock { s in
            s.readers.park(pending, size: size)
            Self.deliverLocked(&s)
        }
    }

    /// `poll` readiness: readable once reply bytes (or the end) are there; keeps the newest
    /// handle to notify then.
    func poll(owner: AnyObject, handle: PollHandle?) -> PollEvents {
        state.withLock { s in s.readers.poll(owner: owner, handle: handle, readable: !s.buffer.isEmpty || s.finished) }
    }

    private static func deliverLocked(_ s: inout State) {
        var readers = s.readers
        s.readers = ReaderQueue()
        readers.deliver { size, consume in
            if !s.buffer.isEmpty { return .data(consume ? s.buffer.read(max: size) : .nothing) }
            return s.finished ? .end : .wait
        }
        if !s.buffer.isEmpty || s.finished { readers.notifyPollers() }
        s.readers = readers
    }
}
