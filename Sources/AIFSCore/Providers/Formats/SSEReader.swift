/// Server-sent events read straight from a response body's chunks, as bytes: the lines are cut
/// by `ByteLineSplitter` and the fields applied by `SSEFields`, so no `String` is made unless an
/// event goes to a general decoder (`SSEFields.event`). `HTTPModelProvider` reads its streams
/// with it; `LineSplitter` + `SSEParser` are the same rules for callers that hold `String`s.
struct SSEReader: Sendable {
    private var lines = ByteLineSplitter()
    private var fields = SSEFields()

    /// Calls `event` for each event `chunk` completes, in order. What it is handed is valid only
    /// during the call.
    mutating func push<E: Error>(_ chunk: UnsafeRawBufferPointer, _ event: (SSEFields) throws(E) -> Void) throws(E) {
        // The closure below needs the fields while `lines` is being mutated: hold them locally
        // (moved, not copied: `self.fields` lets go of its buffers, which stay unique).
        var fields = SSEFields()
        swap(&fields, &self.fields)
        defer { swap(&fields, &self.fields) }
        try lines.push(chunk.assumingMemoryBound(to: UInt8.self)) { (line) throws(E) in
            try Self.apply(line, to: &fields, event)
        }
    }

    /// Applies one line; an event it completes goes to `event`, then the fields start afresh.
    private static func apply<E: Error>(_ line: UnsafeBufferPointer<UInt8>, to fields: inout SSEFields,
                                        _ event: (SSEFields) throws(E) -> Void) throws(E) {
        guard fields.apply(line: line) else { return }
        defer { fields.clear() }
        try event(fields)
    }

    /// At the end of the body: the last line if it had no terminator, then the event the stream
    /// ended in the middle of, if any.
    mutating func finish<E: Error>(_ event: (SSEFields) throws(E) -> Void) throws(E) {
        var fields = SSEFields()
        swap(&fields, &self.fields)
        defer { swap(&fields, &self.fields) }
        try lines.finish { (line) throws(E) in try Self.apply(line, to: &fields, event) }
        try Self.apply(UnsafeBufferPointer(start: nil, count: 0), to: &fields, event)
    }
}
