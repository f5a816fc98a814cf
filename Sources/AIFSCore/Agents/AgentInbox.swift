import FuseKit
import Synchronization

/// The message an agent socket's program is answering, between the socket's request in flight
/// (``AgentProvider``) and the program's `inbox` and `outbox` descriptors.
///
/// The socket answers one message at a time, so there is at most one here. Every open of
/// `inbox` reads the message now unreplied (blocking while there is none), then end of file;
/// once it was read, `outbox` takes its reply. Until then it stays: a program that crashed
/// reads it again after its restart, and a daemon restart asks again the message in flight.
/// Parked reads hold no thread (``PendingRequest``).
final class AgentInbox: Sendable {
    private struct Delivery {
        let number: UInt64
        let bytes: [UInt8]
        /// An `inbox` read returned it since the program (re)started.
        var read = false
        let continuation: CheckedContinuation<[UInt8], any Error>
    }
    private struct Parked {
        let pending: PendingRequest
        let file: InboxFile
        let size: Int
    }
    private struct State {
        var current: Delivery?
        var nextNumber: UInt64 = 1
        var parked: [Parked] = []
        /// Deliveries cancelled before they were stored.
        var cancelled: Set<UInt64> = []
        /// The socket is gone (reads end) or the daemon stopped (reads fail `EIO`).
        var ended: Errno?? = nil
    }
    private let state = Mutex(State())

    /// Hands `message` to the program and returns its reply; throws `CancellationError` when
    /// the request ends first (cancel, reset, rmdir, shutdown).
    func deliver(_ message: [UInt8]) async throws -> [UInt8] {
        let number = state.withLock { s in
            defer { s.nextNumber += 1 }
            return s.nextNumber
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
                let (accepted, parked): (Bool, [Parked]) = state.withLock { s in
                    if s.cancelled.remove(number) != nil || s.ended != nil { return (false, []) }
                    s.current = Delivery(number: number, bytes: message, continuation: continuation)
                    defer { s.parked = [] }
                    return (true, s.parked)
                }
                guard accepted else { return continuation.resume(throwing: CancellationError()) }
                for reader in parked {
                    guard let request = reader.pending.take() else { continue }
                    answer(request, reader.file, size: reader.size)
                }
            }
        } onCancel: {
            let continuation: CheckedContinuation<[UInt8], any Error>? = state.withLock { s in
                guard let current = s.current, current.number == number else {
                    s.cancelled.insert(number)
                    return nil
                }
                s.current = nil
                return current.continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// An `inbox` read of a descriptor that has no message yet: binds the message unreplied now
    /// and answers from it; else `EAGAIN` (non-blocking) or parked until one comes.
    func read(_ request: consuming Request, file: InboxFile, size: Int, nonBlocking: Bool) {
        enum Next { case answer, again, end(Errno?), park }
        let next: Next = state.withLock { s in
            if let ended = s.ended { return .end(ended) }
            if s.current != nil { return .answer }
            return nonBlocking ? .again : .park
        }
        switch next {
        case .answer: answer(request, file, size: size)
        case .again: request.reply(error: .EAGAIN)
        case .end(let error?): request.reply(error: error)
        case .end(nil): request.reply(bytes: [])
        case .park:
            let pending = PendingRequest(request, interruptible: true, onInterrupt: { [weak self] in
                self?.state.withLock { s in s.parked.removeAll { !$0.pending.isWaiting } }
            })
            let late: Bool = state.withLock { s in
                guard s.current == nil, s.ended == nil else { return true }
                s.parked.append(Parked(pending: pending, file: file, size: size))
                return false
            }
            // A message (or the end) came between the check and the parking.
            if late, let request = pending.take() { read(request, file: file, size: size, nonBlocking: false) }
        }
    }

    /// Binds `file` to the current message (marking it read) and answers the read from it.
    private func answer(_ request: consuming Request, _ file: InboxFile, size: Int) {
        let message: (UInt64, [UInt8])? = state.withLock { s in
            guard s.current != nil else { return nil }
            s.current!.read = true
            return (s.current!.number, s.current!.bytes)
        }
        guard let (number, bytes) = message else { return read(request, file: file, size: size, nonBlocking: false) }
        file.bind(number: number, bytes: bytes)
        file.answer(request, size: size)
    }

    /// The message an `outbox` write replies to: the current one if it was read; nil otherwise.
    var readMessage: UInt64? {
        state.withLock { s in s.current.flatMap { $0.read ? $0.number : nil } }
    }

    /// The program's reply to message `number`: the request in flight completes with it. False
    /// when that message is no longer waiting (it was cancelled meanwhile).
    func reply(to number: UInt64, _ bytes: [UInt8]) -> Bool {
        let continuation: CheckedContinuation<[UInt8], any Error>? = state.withLock { s in
            guard let current = s.current, current.number == number else { return nil }
            s.current = nil
            return current.continuation
        }
        continuation?.resume(returning: bytes)
        return continuation != nil
    }

    /// The program ended: the message it read and did not answer is given again to the next.
    func programEnded() {
        state.withLock { s in s.current?.read = false }
    }

    /// The socket was removed (`error` nil: parked reads end) or the daemon stops (`EIO`).
    func end(failing error: Errno?) {
        let parked: [Parked] = state.withLock { s in
            s.ended = .some(error)
            defer { s.parked = [] }
            return s.parked
        }
        for reader in parked {
            guard let request = reader.pending.take() else { continue }
            if let error { request.reply(error: error) } else { request.reply(bytes: []) }
        }
    }
}
