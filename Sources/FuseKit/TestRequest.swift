import Synchronization

/// One request made through an ``InProcessSession``: who sent it, and its answer once the
/// filesystem gives it — at once, or later from any thread.
///
/// Wait for the answer with `try await request.reply` (a continuation: the waiting task holds
/// no thread); look without waiting with ``answer``. It also records what only a test wants to
/// know: whether more than one answer arrived (``replyCount``, never above 1 unless FuseKit is
/// broken), whether the answer came after the session stopped and was dropped as a kernel
/// session drops it (``droppedReplies``), whether the request was dropped unanswered and got
/// `EIO` from `Request.deinit` (``wasDroppedWithoutReply``), and for a `poll` whether its
/// ``PollHandle`` was notified.
public final class TestRequest: @unchecked Sendable {
    /// Thrown by ``reply`` when the answer came after ``InProcessSession/stop()`` and was
    /// dropped, as a kernel session drops it.
    public struct ReplyDropped: Error, CustomStringConvertible {
        public let reply: Reply
        public var description: String { "the reply \(reply) came after the session stopped and was dropped" }
    }

    /// Thrown by ``file`` when the answer opened nothing.
    public struct NotOpened: Error, CustomStringConvertible {
        public let reply: Reply
        public var description: String { "expected an open or create reply, got \(reply)" }
    }

    /// The operation's name (`"lookup"`, `"read"`…), for messages.
    public let operation: String
    /// Who sent it.
    public let context: RequestContext
    /// The inode and flags an `open`/`opendir` was made with (for ``file``).
    let openedInode: Inode?
    let openedFlags: Int32
    /// Holds the session (and its reply gate) as long as the request can still be answered.
    let session: InProcessSession

    /// Everything that reached this request, in order.
    private struct Outcome {
        var replies: [Reply] = []
        var dropped: [Reply] = []
        var droppedWithoutReply = false
        var pollNotified = 0
        var pollHandleDestroyed = false
    }
    private let outcome = Observed(Outcome())

    /// libfuse's `req->lock` and interrupt fields: the interrupt callback runs under it, and
    /// unregistering waits for a callback that is running.
    private struct InterruptState {
        var interrupted = false
        /// The registered callback's data (the ``PendingRequest``'s address), 0 for none.
        var callback: UInt = 0
    }
    private let interruptState = Mutex(InterruptState())

    init(session: InProcessSession, operation: String, context: RequestContext, inode: Inode? = nil, flags: Int32 = 0) {
        self.session = session
        self.operation = operation
        self.context = context
        self.openedInode = inode
        self.openedFlags = flags
    }

    // MARK: For tests

    /// The answer; waits for it. Throws ``ReplyDropped`` if it came after the session stopped,
    /// `CancellationError` if the waiting task is cancelled first.
    public var reply: Reply {
        get async throws {
            try await outcome.wait { !$0.replies.isEmpty || !$0.dropped.isEmpty }
            let now = outcome.value
            if let reply = now.replies.first { return reply }
            throw ReplyDropped(reply: now.dropped[0])
        }
    }

    /// The answer if it has been given, nil while the request is unanswered (parked).
    public var answer: Reply? { outcome.value.replies.first }

    /// True once an answer was given (or dropped after the session stopped).
    public var isAnswered: Bool { let now = outcome.value; return !now.replies.isEmpty || !now.dropped.isEmpty }

    /// How many answers reached the session: 1 once answered.
    public var replyCount: Int { outcome.value.replies.count }

    /// Answers given after the session stopped, dropped as a kernel session drops them.
    public var droppedReplies: [Reply] { outcome.value.dropped }

    /// True when the request was dropped without an answer and `Request.deinit` answered `EIO`.
    public var wasDroppedWithoutReply: Bool { outcome.value.droppedWithoutReply }

    /// True once ``InProcessSession/interrupt(_:)`` was called for this request.
    public var isInterrupted: Bool { interruptState.withLock { $0.interrupted } }

    /// The open file an `open`, `opendir` or `create` answered with; waits for the answer.
    /// Throws the errno of an error answer, ``NotOpened`` for any other.
    public var file: InProcessSession.File {
        get async throws {
            let reply = try await self.reply
            switch reply {
            case .open(let handle, let options):
                return InProcessSession.File(inode: openedInode ?? 0, handle: handle?.object, flags: openedFlags, options: options)
            case .create(let entry, let handle, let options):
                return InProcessSession.File(inode: entry.attributes.inode, handle: handle?.object, flags: openedFlags, options: options)
            case .error(let errno):
                throw errno
            default:
                throw NotOpened(reply: reply)
            }
        }
    }

    /// For a `poll` request: how many times its ``PollHandle`` was notified (at most once).
    public var pollNotifications: Int { outcome.value.pollNotified }

    /// For a `poll` request: true once its ``PollHandle`` was released unused.
    public var pollHandleDestroyed: Bool { outcome.value.pollHandleDestroyed }

    /// For a `poll` request: waits until its ``PollHandle`` is notified.
    public func pollNotification() async throws {
        try await outcome.wait { $0.pollNotified > 0 }
    }

    // MARK: From Request and PollHandle

    func deliver(_ reply: Reply) {
        outcome.update { $0.replies.append(reply) }
    }

    func noteDropped(_ reply: Reply) {
        outcome.update { $0.dropped.append(reply) }
    }

    func noteDroppedWithoutReply() {
        outcome.update { $0.droppedWithoutReply = true }
    }

    func notePollNotified() {
        outcome.update { $0.pollNotified += 1 }
    }

    func notePollHandleDestroyed() {
        outcome.update { $0.pollHandleDestroyed = true }
    }

    /// `fuse_req_interrupt_func(req, callback, data)`.
    func registerInterrupt(_ data: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: data)
        interruptState.withLock { state in
            state.callback = address
            if state.interrupted { Self.runCallback(&state) }
        }
    }

    /// `fuse_req_interrupt_func(req, NULL, NULL)`: waits for a callback that is running.
    func unregisterInterrupt() {
        interruptState.withLock { $0.callback = 0 }
    }

    /// The kernel's `INTERRUPT` for this request (see ``InProcessSession/interrupt(_:)``).
    func interrupt() {
        interruptState.withLock { state in
            state.interrupted = true
            Self.runCallback(&state)
        }
    }

    /// Runs the registered callback as libfuse does, under the lock. A callback that answered
    /// the request ends its registration (the request is gone in libfuse: no second call).
    private static func runCallback(_ state: inout InterruptState) {
        guard let data = UnsafeMutableRawPointer(bitPattern: state.callback) else { return }
        pendingInterruptCallback(nil, data)
        // pendingInterruptCallback answered and released it, or someone else has claimed the
        // request and will unregister (waiting for this lock) before answering.
        state.callback = 0
    }
}
