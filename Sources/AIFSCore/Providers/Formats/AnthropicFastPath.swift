extension AnthropicFormat {
    /// The fast path: what `decode` gives for the common events, read straight from the bytes
    /// of the event's data; nil whenever it cannot be sure, and then `decode` decides.
    ///
    /// Understood: objects whose `type` is `content_block_delta` with a `delta` of type
    /// `text_delta` (its `text`) or `thinking_delta` (its `thinking`), or `ping` or
    /// `content_block_stop`; other members may be scalars (`index`, …). The event's name is not
    /// needed: `decode` too goes by `type` when there is one.
    ///
    /// Declined: every other type (`message_start`, `message_delta`, `message_stop`, `error`,
    /// `content_block_start`, types added later), no `type` or one that is not a plain string,
    /// other delta types (`signature_delta`, `input_json_delta` of tool use, …), any other
    /// member of `delta`, an object or array anywhere else, a member that comes twice, and
    /// whatever `JSONScanner` does not accept.
    static func fastDecode(_ data: UnsafeBufferPointer<UInt8>) -> FastDelta? {
        enum Kind { case blockDelta, nothing }
        enum DeltaKind { case text, thinking }
        var kind: Kind?, deltaKind: DeltaKind?
        var text: [UInt8]?, thinking: [UInt8]?
        var seen = SeenMembers()
        var scanner = JSONScanner(data)
        let read = scanner.object { scanner, key in
            if key.equals("type") {
                guard seen.first(1 << 0), let type = scanner.plainString() else { return false }
                if type.equals("content_block_delta") {
                    kind = .blockDelta
                } else if type.equals("ping") || type.equals("content_block_stop") {
                    kind = .nothing
                } else {
                    return false
                }
                return true
            } else if key.equals("delta") {
                return seen.first(1 << 1) && scanner.object { scanner, key in
                    if key.equals("type") {
                        guard seen.first(1 << 2), let type = scanner.plainString() else { return false }
                        if type.equals("text_delta") {
                            deltaKind = .text
                        } else if type.equals("thinking_delta") {
                            deltaKind = .thinking
                        } else {
                            return false
                        }
                        return true
                    } else if key.equals("text") {
                        guard seen.first(1 << 3), let value = scanner.string() else { return false }
                        text = value
                        return true
                    } else if key.equals("thinking") {
                        guard seen.first(1 << 4), let value = scanner.string() else { return false }
                        thinking = value
                        return true
                    }
                    return false
                }
            }
            return scanner.skipScalar()
        }
        guard read, scanner.atEnd(), let kind else { return nil }
        switch (kind, deltaKind) {
        case (.nothing, _): return FastDelta()
        case (.blockDelta, .text?): return text.map { FastDelta(text: $0) }
        case (.blockDelta, .thinking?): return thinking.map { FastDelta(reasoning: $0) }
        case (.blockDelta, nil): return nil
        }
    }
}
