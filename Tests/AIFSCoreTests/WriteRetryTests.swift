@testable import AIFSCore
import Foundation
import Testing

/// The writer's retries after a failed write: the back-off, and the bound on kept groups.
@Suite("store: retries after a failed write")
struct WriteRetryTests {
    @Test("the back-off waits 50 ms, then twice as long after each failure up to 5 s, and starts over after a success")
    func backoff() {
        var backoff = Backoff()
        let start = Date(timeIntervalSince1970: 1_000)
        #expect(backoff.isDue(start))
        var waits: [Double] = []
        for _ in 0..<10 {
            backoff.failed(start)
            waits.append((backoff.remaining(start) * 1000).rounded() / 1000)
            #expect(!backoff.isDue(start))
        }
        #expect(waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5])
        #expect(backoff.isDue(start.addingTimeInterval(5)))
        backoff.succeeded()
        #expect(backoff.isDue(start))
        backoff.failed(start)
        #expect(abs(backoff.remaining(start) - 0.05) < 1e-6)
    }

    @Test("kept groups are bounded: past the limit the oldest go, and the count says how many")
    func keptGroupsBounded() {
        var kept = KeptGroups()
        func group(_ n: Int) -> EventQueue.Group {
            EventQueue.Group(events: [.memory(MemoryEntry(time: Double(n), socket: "s", kind: .event, content: "\(n)"))], done: nil)
        }
        #expect(kept.keep((0..<(KeptGroups.limit - 1)).map(group)) == 0)
        #expect(kept.keep((0..<3).map { group(KeptGroups.limit - 1 + $0) }) == 2)
        #expect(kept.count == KeptGroups.limit)
        let all = kept.takeAll()
        if case .memory(let first) = all.first?.events.first { #expect(first.content == "2", "the two oldest were dropped") }
        else { Issue.record("not a memory") }
        #expect(kept.isEmpty)
    }
}
