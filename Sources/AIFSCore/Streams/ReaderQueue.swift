import FuseKit

/// The readers of one blocking stream (`output`, `team-chat-all/output`, a `chat`
/// descriptor): reads parked until there is something to answer, and the poll handles to wake.
/// One value lives inside its stream's lock; every method is called with that lock held.
///
/// The rules it keeps, once for all three streams:
/// - parked reads are answered in arrival order, each with what `next` gives it: bytes, the
///   failure mark (`EIO` once), or end of file; `next` returning nil leaves them waiting;
/// - a read parked *holding its end* (`holdsEnd`) gets bytes but not end of file until
///   ``release(_:)`` (a read that must first catch up with a shared log);
/// - an interrupted read is answered `EINTR` by FuseKit and dropped here (``dropAnswered()``);
/// - a poll is answered with the current readiness; the newest handle per descriptor is kept
///   and notified, once, when the stream becomes readable;
/// - at shutdown every parked read gets `EIO` and every poller is woken (``fail(_:)``).
///
/// Answers are sent under the owner's lock: an interrupt callback only takes that lock after
/// it has claimed its own request, so this cannot deadlock.
struct ReaderQueue {
    private struct Parked {
        let pending: PendingRequest
        let size: Int
        var holdsEnd: Bool
    }
    private var parked: [Parked] = []
    private var pollHandles: [ObjectIdentifier: PollHandle] = [:]

    /// Reads parked and not yet answered (for `/ai/metrics`).
    var parkedCount: Int { parked.count { $0.pending.isWaiting } }
    /// Whether any read is parked.
    var hasParked: Bool { !parked.isEmpty }
    /// Whether any poller waits to be woken.
    var hasPollers: Bool { !pollHandles.isEmpty }

    /// Parks a read of at most `size` bytes (the request was made interruptible outside the lock).
    mutating func park(_ pending: PendingRequest, size: Int, holdsEnd: Bool = false) {
        parked.append(Parked(pending: pending, size: size, holdsEnd: holdsEnd))
    }

    /// Forgets reads that were answered elsewhere (interrupted).
    mutating func dropAnswered() {
        parked.removeAll { !$0.pending.isWaiting }
    }

    /// Lets the read parked as `pending` have end of file again.
    mutating func release(_ pending: ObjectIdentifier) {
        if let index = parked.firstIndex(where: { ObjectIdentifier($0.pending) == pending }) {
            parked[index].holdsEnd = false
        }
    }

    /// What the stream has for the next parked read.
    enum Next {
        /// Bytes or the failure mark, consumed from the stream for this read.
        case data(OutputBuffer.ReadResult)
        /// Nothing now, and nothing is coming: end of file (unless the read holds its end).
        case end
        /// Nothing now, more is coming: the read keeps waiting.
        case wait
    }

    /// Answers parked reads in order while the stream has something for them. `next(size,
    /// consume)` says what the stream has for a read of `size` bytes; it consumes what it
    /// returns as `.data` only when `consume` is true, which happens once the read has been
    /// claimed (a read interrupted meanwhile leaves the data to the next one).
    mutating func deliver(_ next: (_ size: Int, _ consume: Bool) -> Next) {
        while let first = parked.first {
            switch next(first.size, false) {
            case .data:
                parked.removeFirst()
                guard let request = first.pending.take() else { continue }
                if case .data(let result) = next(first.size, true) {
                    Self.answer(request, result)
                } else {
                    request.reply(bytes: [])
                }
            case .end where !first.holdsEnd:
                parked.removeFirst()
                first.pending.take()?.reply(bytes: [])
            case .end, .wait:
                return
            }
        }
    }

    /// Wakes every poller (the stream became readable).
    mutating func notifyPollers() {
        guard !pollHandles.isEmpty else { return }
        for handle in pollHandles.values { handle.notify() }
        pollHandles.removeAll()
    }

    /// Poll readiness: readable if `readable`, else the handle is kept (newest per `owner`).
    mutating func poll(owner: AnyObject, handle: PollHandle?, readable: Bool) -> PollEvents {
        if readable { return .readable }
        if let handle { pollHandles[ObjectIdentifier(owner)] = handle }
        return []
    }

    /// Forgets the poll handle of a descriptor being released.
    mutating func forgetPoll(owner: AnyObject) {
        pollHandles.removeValue(forKey: ObjectIdentifier(owner))
    }

    /// The stream is going away: every parked read gets `error`, every poller is woken.
    mutating func fail(_ error: Errno) {
        while !parked.isEmpty { parked.removeFirst().pending.take()?.reply(error: error) }
        notifyPollers()
        pollHandles.removeAll()
    }

    /// Answers a read with what the stream gave it.
    static func answer(_ request: consuming Request, _ result: OutputBuffer.ReadResult) {
        switch result {
        case .bytes(let bytes): request.reply(bytes: bytes)
        case .failure: request.reply(error: .EIO)
        case .nothing: request.reply(bytes: [])
        }
    }
}
