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
public struct SSEParser: Sendable {
    private var event: String?
    private var data: [String] = []
    private var id: String?

    public init() {}

    /// The field rules apply to unicode scalars, as the standard says: as characters, a `:` or
    /// a space followed by a combining mark (`data:\u{301}…`) would be one character, not `:`.
    public mutating func push(line: String) -> SSEEvent? {
        let scalars = line.unicodeScalars
        if scalars.isEmpty { return dispatch() }
        if scalars.first == ":" { return nil }
        let field: String
        var value: Substring.UnicodeScalarView
        if let colon = scalars.firstIndex(of: ":") {
            field = String(scalars[..<colon])
            value = scalars[scalars.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = line
            value = Substring.UnicodeScalarView()
        }
        switch field {
        case "event": event = String(value)
        case "data": data.append(String(value))
        case "id": id = String(value)
        default: break
        }
        return nil
    }

    /// An event the stream ended in the middle of (no blank line after it).
    public mutating func finish() -> SSEEvent? { dispatch() }

    private mutating func dispatch() -> SSEEvent? {
        defer {
            event = nil
            data = []
        }
        guard !data.isEmpty || event != nil else { return nil }
        return SSEEvent(event: event, data: data.joined(separator: "\n"), id: id)
    }
}
