import FuseKit
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// FuseKit's concurrency paths through the in-process session: parked requests claimed from
/// racing threads, interrupts racing answers, shutdown with parked requests, answers after the
/// session stopped, requests dropped unanswered.
///
/// Racing runs on threads of our own (never the cooperative pool), and tests wait for events,
/// never for time. What only the kernel can show — libfuse's own request lifetime under an
/// interrupt, a reply racing the unmount's `fuse_session_destroy` — is covered by MountTests.
@Suite("FuseKit concurrency")
struct ConcurrencyTests {
    /// A request the filesystem holds without parking it (to park or answer it later).
    final class Held: @unchecked Sendable {
        private let slot = Mutex<Request?>(nil)

        func hold(_ request: consuming Request) {
            var moving = Optional(request)
            slot.withLock { $0 = moving.take() }
        }

        func take() -> Request? { slot.withLock { $0.take() } }
    }

    /// Makes a request parked as a ``PendingRequest`` and returns both.
    static func park(_ session: InProcessSession, interruptible: Bool,
                     onInterrupt: (@Sendable () -> Void)? = nil) -> (TestRequest, PendingRequest) {
        let parked = Locked<PendingRequest?>(nil)
        let request = session.send("read") { request in
            let pending = PendingRequest(request, interruptible: interruptible, onInterrupt: onInterrupt)
            parked.withLock { $0 = pending }
        }
        return (request, parked.value!)
    }

    @Test func aParkedRequestIsAnsweredOnceAmongRacingThreads() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        for round in 0..<300 {
            let (request, pending) = Self.park(session, interruptible: round % 2 == 0)
            let winners = Counter()
            await Threads.race(4) { index in
                if let claimed = pending.take() {
                    winners.increment()
                    claimed.reply(bytes: [UInt8(index)])
                }
            }
            #expect(winners.value == 1)
            #expect(request.replyCount == 1 && request.answer?.bytes?.count == 1)
            #expect(!pending.isWaiting && session.parkedCount == 0)
        }
        await session.stop()
    }

    @Test func interruptRacingAnAnswerGivesExactlyOneReply() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let iterations = 10_000
        let failures = await Threads.run { () -> [String] in
            let workers = RacingWorkers(2)
            defer { workers.finish() }
            var failures: [String] = []
            var interrupted = 0
            for iteration in 0..<iterations {
                let onInterrupt = Counter()
                weak var released: PendingRequest?
                let request: TestRequest
                do {
                    let (parked, pending) = Self.park(session, interruptible: true) { onInterrupt.increment() }
                    request = parked
                    released = pending
                    workers.round([
                        { session.interrupt(parked) },
                        { pending.take()?.reply(bytes: [1]) },
                    ])
                }
                let calls = onInterrupt.value
                switch request.answer {
                case .error(.EINTR)? where calls == 1: interrupted += 1
                case .data([1])? where calls == 0: break
                default: failures.append("iteration \(iteration): \(String(describing: request.answer)), onInterrupt \(calls)")
                }
                if request.replyCount != 1 { failures.append("iteration \(iteration): \(request.replyCount) replies") }
                if released != nil { failures.append("iteration \(iteration): the pending request leaked (registration unbalanced)") }
                if failures.count > 10 { break }
            }
            // Both outcomes must have happened, or the race was not a race.
            if interrupted == 0 || interrupted == iterations { failures.append("no race: \(interrupted) of \(iterations) interrupted") }
            return failures
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(session.parkedCount == 0)
        await session.stop()
    }

    @Test func anInterruptBeforeParkingAnswersEINTRAtPark() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let held = Held()
        let request = session.send("read") { held.hold($0) }
        session.interrupt(request)
        #expect(request.isInterrupted && request.answer == nil)
        let interrupts = Counter()
        let pending = PendingRequest(held.take()!, interruptible: true) { interrupts.increment() }
        #expect(try await request.reply == .error(.EINTR))
        #expect(interrupts.value == 1 && pending.take() == nil && session.parkedCount == 0)
        session.interrupt(request)  // a second interrupt for a finished request does nothing
        #expect(request.replyCount == 1 && interrupts.value == 1)
        await session.stop()
    }

    @Test func aNonInterruptibleParkedRequestIgnoresInterrupts() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let (request, pending) = Self.park(session, interruptible: false)
        session.interrupt(request)
        #expect(pending.isWaiting && request.answer == nil && request.isInterrupted)
        pending.take()?.replyOK()
        #expect(try await request.reply == .ok)
        await session.stop()
    }

    @Test func stopAnswersEveryParkedRequestEIOAndLaterParksAtOnce() async throws {
        let fileSystem = StreamFileSystem()
        let session = InProcessSession(fileSystem: fileSystem)
        let file = try await session.open(inode: StreamFileSystem.stream).file
        let reads = (0..<50).map { _ in session.read(file) }
        let flushes = (0..<50).map { _ in Self.park(session, interruptible: false).0 }
        #expect(session.parkedCount == 100)
        let heldAcrossStop = Held()
        let held = session.send("read") { heldAcrossStop.hold($0) }
        // A handler still running when the stop begins parks after the sweep but before the
        // loop has ended: its EIO still reaches the caller.
        let entered = Signal(), swept = Barrier(2)
        async let running: TestRequest = Threads.run {
            session.send("read") { request in
                entered.raise()
                swept.wait()
                _ = PendingRequest(request, interruptible: true)
            }
        }
        await entered.wait()
        async let stopping: Void = Threads.run { session.stopOnThisThread() }
        for request in reads + flushes { #expect(try await request.reply == .error(.EIO)) }
        await Threads.run { swept.wait() }
        #expect(try await running.reply == .error(.EIO))
        await stopping
        #expect(fileSystem.state.withLock { $0.waitingAtStop } == 50, "sessionWillStop ran before the sweep")
        #expect(fileSystem.state.withLock { $0.stopCalls } == 1)
        #expect(session.parkedCount == 0)
        // Parked once the session has stopped: EIO at once, dropped as every late answer is.
        _ = PendingRequest(heldAcrossStop.take()!, interruptible: true)
        #expect(held.droppedReplies == [.error(.EIO)] && held.replyCount == 0)
        #expect(try await session.read(file).reply == .error(.ENOTCONN))
    }

    @Test func answersAfterStopAreDropped() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let held = (0..<200).map { _ in Held() }
        let requests = held.map { box in session.send("read") { box.hold($0) } }
        let openHeld = Held()
        var opening: TestRequest? = session.send("open") { openHeld.hold($0) }
        // Answers race the stop from another thread: each is either given or dropped, once.
        async let answering: Void = Threads.run { for box in held { box.take()?.reply(bytes: [7]) } }
        await session.stop()
        await answering
        for request in requests {
            #expect(request.replyCount + request.droppedReplies.count == 1)
        }
        // An open answered after the stop: the session lets go of the handle at once (only the
        // dropped reply, kept for this test to look at, still holds it).
        weak var freed: StreamFileSystem.Handle?
        do {
            let handle = StreamFileSystem.Handle(serial: 1)
            freed = handle
            openHeld.take()!.reply(open: handle)
        }
        #expect(session.openHandleCount == 0)
        await #expect(throws: TestRequest.ReplyDropped.self) { try await opening!.reply }
        #expect(opening?.droppedReplies.first?.errno == nil)
        opening = nil
        #expect(freed == nil, "not leaked")
    }

    @Test func aRequestDroppedUnansweredGetsEIO() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let request = session.send("read") { _ in }
        #expect(try await request.reply == .error(.EIO))
        #expect(request.wasDroppedWithoutReply && request.replyCount == 1)
        let answered = session.send("read") { $0.replyOK() }
        #expect(!answered.wasDroppedWithoutReply)
        await session.stop()
    }

    @Test func handlersRunOneAtATime() async throws {
        let inside = Counter(), overlaps = Counter()
        let session = InProcessSession(fileSystem: StreamFileSystem())
        await Threads.race(4) { _ in
            for _ in 0..<500 {
                session.send("getattr") { request in
                    if inside.increment() != 1 { overlaps.increment() }
                    inside.decrement()
                    request.replyOK()
                }
            }
        }
        #expect(overlaps.value == 0)
        await session.stop()
    }

    @Test func waitingForAParkMadeFromATask() async throws {
        let session = InProcessSession(fileSystem: StreamFileSystem())
        let request = session.send("read") { request in
            let held = Held()
            held.hold(request)
            Task { _ = PendingRequest(held.take()!, interruptible: false) }
        }
        try await session.waitUntilParked(1)
        // Parked, so the stop's sweep answers it (before the park it would have been dropped).
        await session.stop()
        #expect(try await request.reply == .error(.EIO))
    }
}
