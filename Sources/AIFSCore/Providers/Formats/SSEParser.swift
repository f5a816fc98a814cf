/// One server-sent event.
public struct SSEEvent: Equatable, Sendable {
    public var event: String?
    public var data: String
    public var id: String?
    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// Turns lines into server-sent events, by the field rules of the EventSource standard:
/// `:` starts a comment; `field: value` loses one space after the colon; several `data:` lines
/// join with `\n`; a blank line ends the event (dispatched if it has data or a name); unknown
/// fields are ignored.
///
/// The rules themselves are `SSEFields`' (on the line's UTF-8 bytes, which for a `String` line
/// is the same as on its unicode scalars: see there).
public struct SSEParser: Sendable {
    private var fields = SSEFields()

    public init() {}

    /// The field rules apply to unicode scalars, as the standard says: as characters, a `:` or
    /// a space followed by a combining mark (`data:\u{301}…`) would be one character, not `:`.
    public mutating func push(line: String) -> SSEEvent? {
        var line = line
        guard line.withUTF8({ fields.apply(line: $0) }) else { return nil }
        defer { fields.clear() }
        return fields.event
    }

    /// An event the stream ended in the middle of (no blank line after it).
    public mutating func finish() -> SSEEvent? {
        guard fields.apply(line: UnsafeBufferPointer(start: nil, count: 0)) else { return nil }
        defer { fields.clear() }
        return fields.event
    }
}

/// The event being put together from a stream's lines, by the EventSource field rules, as
/// bytes: the one implementation behind `SSEParser` (lines as `String`) and `SSEReader`
/// (lines as bytes straight from the socket).
///
/// The standard defines the rules on unicode scalars; on UTF-8 bytes they are the same, because
/// the only scalars they look at (`:`, space, and the line ends) are ASCII, and an ASCII byte is
/// always that scalar. In bytes that are not valid UTF-8, an ASCII byte is never part of an
/// invalid sequence either, so splitting first and decoding lossily after (`event`) gives what
/// decoding the whole line first and splitting it gave.
struct SSEFields: Sendable {
    /// The `data:` lines so far, joined with `\n`.
    private(set) var data: [UInt8] = []
    /// Whether a `data:` line came (possibly empty): then the event has data, even `""`.
    private var hasData = false
    /// The last `event:` value, if one came; kept in a buffer reused from event to event.
    private var name: [UInt8] = []
    private var hasName = false
    /// The last `id:`; unlike the others it carries over to later events, as the standard says.
    private var id: [UInt8]?

    /// Applies one line (without its terminator). True when the line was blank and ended an
    /// event worth dispatching (it has data or a name): read it, then call `clear`.
    mutating func apply(line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = line.first else { return hasData || hasName }
        if first == UInt8(ascii: ":") { return false }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        var valueStart = Swift.min(colon + 1, line.count)
        if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = UnsafeBufferPointer(rebasing: line[valueStart...])
        let field = UnsafeBufferPointer(rebasing: line[..<colon])
        if field.equals("data") {
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if field.equals("event") {
            name.removeAll(keepingCapacity: true)
            name.append(contentsOf: value)
            hasName = true
        } else if field.equals("id") {
            id = Array(value)
        }
        return false
    }

    /// Forgets the dispatched event (but not the last `id`).
    mutating func clear() {
        data.removeAll(keepingCapacity: true)
        hasData = false
        hasName = false
    }

    /// The event as `SSEEvent`, its fields decoded (lossily, if they are not valid UTF-8).
    var event: SSEEvent {
        SSEEvent(event: hasName ? String(decoding: name, as: UTF8.self) : nil,
                 data: String(decoding: data, as: UTF8.self),
                 id: id.map { String(decoding: $0, as: UTF8.self) })
    }
}
