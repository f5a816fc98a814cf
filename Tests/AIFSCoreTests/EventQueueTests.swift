@testable import AIFSCore
import Foundation
import Synchronization
import Testing

/// The store's inbox and its commit token: one committer at a time, in order, whether the
/// writer thread or a leader on the loop thread (leader/follower group commit).
@Suite("store: group commit")
struct EventQueueTests {
    @Test("a leader takes everything queued; the writer waits for its token and then takes what came meanwhile")
    func leaderAndWriter() async throws {
        let queue = EventQueue()
        queue.append([], done: { _ in }, wake: false)
        let leader = try #require(queue.takeForLeader(), "nobody is committing: the leader commits")
        #expect(leader.groups.count == 1)
        #expect(queue.takeForLeader()?.groups.count == nil, "one committer at a time")

        // The writer asks while the leader still holds the token; it must not take anything
        // before the token is given back, however short its idle timeout.
        let taken = Mutex<Int?>(nil)
        let writerDone = DispatchSemaphore(value: 0)
        Thread {
            let batch = queue.takeAll(waitingAtMost: 0.001)
            taken.withLock { $0 = batch?.groups.count }
            writerDone.signal()
        }.start()
        queue.append([], done: { _ in })      // queued during the leader's commit (a follower)
        #expect(taken.withLock { $0 } == nil, "the writer waits for the token")
        queue.finishCommit()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { writerDone.wait(); c.resume() }
        }
        #expect(taken.withLock { $0 } == 1, "the follower's group went with the writer's batch")
        #expect(queue.takeForLeader()?.groups.count == nil, "the writer holds the token until finishCommit")
        queue.finishCommit()
        queue.close()
        #expect(queue.takeAll(waitingAtMost: 1)?.groups.count == nil, "closed and drained")
    }
}
