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
        /// An `ask` stream keeps the whole reply for ``reply()`` (nobody reads it).
        var kept: [UInt8] = []
        var failed = false
        var waiter: CheckedContinuation<(bytes: [UInt8], failed: Bool), Never>?
    }
    private let state = Mutex(State())
    /// For a stream the `ask` tool waits on: the sockets whose asks led to this message, so
    /// that an ask back into one of them is refused (a cycle would wait for itself).
    let askedBy: [SocketID]

    public init() { askedBy = [] }

    init(askedBy: [SocketID]) { self.askedBy = askedBy }

    func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let keeps = !askedBy.isEmpty
        state.withLock { s in
            if keeps {
                s.kept.append(contentsOf: bytes)
                return
            }
            s.buffer.append(bytes)
            Self.deliverLocked(&s)
        }
    }

    /// The whole reply and whether it failed, once it has ended (an `ask` stream's).
    func reply() async -> (bytes: [UInt8], failed: Bool) {
        await withCheckedContinuation { continuation in
            let now: (bytes: [UInt8], failed: Bool)? = state.withLock { s in
                if s.finished { return (s.kept, s.failed) }
                s.waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    /// Ends the reply; with `failed`, a read gets `EIO` once after the bytes so far.
    func finish(failed: Bool = false) {
        let waiter: (CheckedContinuation<(bytes: [UInt8], failed: Bool), Never>, [UInt8])? = state.withLock { s in
            guard !s.finished else { return nil }
            if failed { s.buffer.appendFailure() }
            s.finished = true
            s.failed = failed
            Self.deliverLocked(&s)
            defer { s.waiter = nil }
            return s.waiter.map { ($0, s.kept) }
        }
        if let (continuation, kept) = waiter { continuation.resume(returning: (kept, failed)) }
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
