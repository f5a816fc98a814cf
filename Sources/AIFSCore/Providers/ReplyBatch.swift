/// The reply pieces of one network read, forwarded to a ``ReplySink`` as one piece per run of
/// the same kind: the events that arrived together reach the socket (its lock, the log, its
/// parked reader) once, not once per token. Order is kept: a change of kind, or usage,
/// forwards what is held first. Nothing waits for more data; the owner calls ``flush()`` when
/// the read's bytes are parsed.
struct ReplyBatch {
    private enum Kind { case text, reasoning }
    private let sink: any ReplySink
    private var kind = Kind.text
    private var held: [UInt8] = []

    init(_ sink: any ReplySink) { self.sink = sink }

    mutating func text(_ bytes: [UInt8]) { hold(.text, bytes) }
    mutating func reasoning(_ bytes: [UInt8]) { hold(.reasoning, bytes) }

    mutating func usage(input: Int, output: Int) {
        flush()
        sink.usage(input: input, output: output)
    }

    /// A diagnostic, after what is held.
    mutating func diagnostic(kind: String, _ text: String) {
        flush()
        sink.diagnostic(kind: kind, text)
    }

    /// A whole tool call, after what is held.
    mutating func toolCall(_ call: ToolCallRequest) {
        flush()
        sink.toolCall(call)
    }

    /// Forwards what is held.
    mutating func flush() {
        guard !held.isEmpty else { return }
        switch kind {
        case .text: sink.text(held)
        case .reasoning: sink.reasoning(held)
        }
        held = []  // the sink holds the bytes now: keeping their capacity would copy them
    }

    private mutating func hold(_ next: Kind, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if next != kind { flush() }
        kind = next
        if held.isEmpty { held = bytes } else { held.append(contentsOf: bytes) }
    }
}
