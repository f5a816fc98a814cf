@testable import AIFSCore
import Foundation
import Synchronization
import Testing

/// The gate in front of the store: a bound per uid, in order, that never holds back other uids.
@Suite("store: requests per uid")
struct UIDAdmissionTests {
    @Test("past the limit a uid's requests wait in order until one of its own leaves; other uids go at once; leave twice counts once")
    func perUID() async {
        let gate = UIDAdmission(limit: 2)
        let (runs, ran) = AsyncStream.makeStream(of: String.self)
        let leaves = Mutex<[String: @Sendable () -> Void]>([:])
        func enter(_ uid: UInt32, _ name: String) {
            gate.enter(uid) { leave in
                leaves.withLock { $0[name] = leave }
                ran.yield(name)
            }
        }
        func leave(_ name: String) { leaves.withLock { $0[name]! }() }
        var order = runs.makeAsyncIterator()
        enter(1, "a1"); enter(1, "a2"); enter(1, "a3"); enter(1, "a4")
        enter(2, "b1")
        #expect(gate.isFull(1) && !gate.isFull(2))
        #expect(gate.counts(1) == (running: 2, parked: 2))
        var seen: [String] = []
        for _ in 0..<3 { seen.append(await order.next()!) }
        #expect(seen == ["a1", "a2", "b1"], "uid 1's third and fourth wait; uid 2 does not")
        // A parked request runs (on the gate's queue) once a place of its uid is free, in order.
        leave("a1")
        leave("a1")  // a second call does nothing
        #expect(await order.next() == "a3")
        #expect(gate.counts(1) == (running: 2, parked: 1), "a2 and a3 in, a4 still waiting")
        leave("a2")
        #expect(await order.next() == "a4")
        leave("a3"); leave("a4"); leave("b1")
        #expect(gate.counts(1) == (running: 0, parked: 0) && gate.counts(2) == (running: 0, parked: 0))
    }
}
