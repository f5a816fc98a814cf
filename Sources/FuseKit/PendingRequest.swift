import CFuse3
import Synchronization

/// A request parked until something else answers it: a read waiting for data, a flush waiting
/// for a commit. Parking costs no thread.
///
/// Whoever answers first wins: call ``take()`` to claim the request (nil means it was already
/// answered — interrupted or shut down — so give your data to the next waiter instead), then
/// reply to it. `take()` only takes a small leaf lock, so it is safe to call under your own lock;
/// reply after releasing your lock.
///
/// An *interruptible* pending request registers `fuse_req_interrupt_func` before it becomes
/// visible to other threads. When the kernel interrupts it (Ctrl-C on the blocked process), the
/// callback claims it, runs `onInterrupt` (remove it from your wait list; do not reply to other
/// requests there) and answers `EINTR`.
///
/// Every pending request is also known to its session, which answers the ones still parked with
/// `EIO` when the filesystem is unmounted, so no caller is left hanging.
public final class PendingRequest: @unchecked Sendable {
    private let slot: Mutex<Request?>
    private let onInterrupt: (@Sendable () -> Void)?
    private weak var registry: PendingRegistry?

    /// Parks `request`. With `interruptible`, an interrupt answers it `EINTR` after calling
    /// `onInterrupt`.
    public init(_ request: consuming Request, interruptible: Bool, onInterrupt: (@Sendable () -> Void)? = nil) {
        let backend = request.backend
        let gate = request.gate
        let registry = request.pendingRegistry
        self.onInterrupt = onInterrupt
        self.registry = registry
        self.slot = Mutex(Optional(request))
        if interruptible {
            // Retained for the registration; released by whoever ends it (see Request.send and
            // pendingInterruptCallback).
            let registration = Unmanaged.passRetained(self)
            slot.withLock { $0?.interruptRegistration = registration }
            // Registered before anyone else can see the request. Runs the callback at once if
            // the interrupt already arrived (then the slot is empty below).
            Request.registerInterrupt(backend, gate: gate, self)
        }
        let accepted = slot.withLock { slot -> Bool in
            guard slot != nil else { return true }
            return registry.add(self)
        }
        if !accepted, let late = take() {
            late.reply(error: .EIO)  // the session is shutting down
        }
    }

    /// Claims the request; nil if someone (an interrupt, the shutdown sweep) already did.
    public func take() -> Request? {
        let request = slot.withLock { $0.take() }
        if request != nil { registry?.remove(self) }
        return request
    }

    /// True while nobody has claimed the request.
    public var isWaiting: Bool { slot.withLock { $0 != nil } }

    /// Called by the interrupt callback; returns true if it claimed and answered the request.
    fileprivate func interrupt() -> Bool {
        guard var request = take() else { return false }
        // We are inside the callback, holding the request's lock: the reply must not try to
        // unregister (that would take the same lock). The caller releases the registration.
        request.interruptRegistration = nil
        onInterrupt?()
        request.reply(error: .EINTR)
        return true
    }
}

/// The C interrupt callback: `data` is the unretained ``PendingRequest``. libfuse calls it
/// under the request's lock; a ``TestRequest`` calls it the same way.
let pendingInterruptCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, data in
    guard let data else { return }
    let pending = Unmanaged<PendingRequest>.fromOpaque(data)
    if pending.takeUnretainedValue().interrupt() {
        pending.release()  // the registration's retain
    }
}

/// Every parked request of a session, so that shutdown can answer them all.
final class PendingRegistry: @unchecked Sendable {
    /// The parked requests, and whether shutdown has begun.
    private struct State {
        var requests: [ObjectIdentifier: PendingRequest] = [:]
        var closed = false
    }
    private let state = Mutex(State())
    /// Told the new count after each change, under the registry's lock (an
    /// ``InProcessSession`` waits on it; nil for a kernel session).
    private let onChange: (@Sendable (Int) -> Void)?

    init(onChange: (@Sendable (Int) -> Void)? = nil) {
        self.onChange = onChange
    }

    /// Records a parked request; false once the session is shutting down.
    func add(_ pending: PendingRequest) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.requests[ObjectIdentifier(pending)] = pending
            onChange?(state.requests.count)
            return true
        }
    }

    func remove(_ pending: PendingRequest) {
        state.withLock { state in
            if state.requests.removeValue(forKey: ObjectIdentifier(pending)) != nil { onChange?(state.requests.count) }
        }
    }

    var count: Int { state.withLock { $0.requests.count } }

    /// Refuses new parked requests and answers every parked one with `error`.
    func closeAndAnswerAll(with error: Errno) {
        let all = state.withLock { state -> [PendingRequest] in
            state.closed = true
            return Array(state.requests.values)
        }
        for pending in all {
            pending.take()?.reply(error: error)
        }
    }
}
