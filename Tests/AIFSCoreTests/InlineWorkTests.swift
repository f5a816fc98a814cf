@testable import AIFSCore
import Testing

/// `InlineWork`: work deferred to the end of the current handler, on the same thread. Each test
/// is synchronous, so its scope opens and closes on one thread.
@Suite("InlineWork")
struct InlineWorkTests {
    /// What ran, in order.
    final class Trace {
        var entries: [String] = []
    }

    @Test("outside a scope nothing is queued; inside one, work runs at end(), in order, not before")
    func queuesInsideAScope() {
        let trace = Trace()
        #expect(InlineWork.defer { trace.entries.append("never") } == false, "no scope open on this thread")
        InlineWork.begin()
        #expect(InlineWork.defer { trace.entries.append("a") })
        #expect(InlineWork.defer { trace.entries.append("b") })
        trace.entries.append("handler answered")
        #expect(trace.entries == ["handler answered"], "queued work waits for end()")
        InlineWork.end()
        #expect(trace.entries == ["handler answered", "a", "b"])
        #expect(InlineWork.defer { trace.entries.append("after") } == false, "the scope is closed")
        InlineWork.end()  // an unmatched end() does nothing
        #expect(trace.entries == ["handler answered", "a", "b"])
    }

    @Test("nested scopes: only the outermost end() runs the work")
    func nestedScopes() {
        let trace = Trace()
        InlineWork.begin()
        InlineWork.begin()
        _ = InlineWork.defer { trace.entries.append("inner") }
        InlineWork.end()
        #expect(trace.entries.isEmpty, "the inner end() leaves it queued")
        _ = InlineWork.defer { trace.entries.append("outer") }
        InlineWork.end()
        #expect(trace.entries == ["inner", "outer"])
    }

    @Test("work queued while the queue drains joins the same drain, after what was queued before it, without recursion")
    func queuedWhileDraining() {
        let trace = Trace()
        var depth = 0
        func step(_ n: Int) {
            depth += 1
            defer { depth -= 1 }
            trace.entries.append("\(n)@\(depth)")
            if n < 3 { #expect(InlineWork.defer { step(n + 1) }, "still inside the scope while draining") }
        }
        InlineWork.begin()
        _ = InlineWork.defer { step(1) }
        _ = InlineWork.defer { trace.entries.append("second") }
        InlineWork.end()
        #expect(trace.entries == ["1@1", "second", "2@1", "3@1"], "each at depth 1: run by the drain, not nested")
        #expect(InlineWork.defer {} == false, "closed after the drain")
    }
}
