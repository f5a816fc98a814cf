extension OpenAIFormat {
    /// The fast path: what `decode` gives for the common events, read straight from the bytes
    /// of the event's data; nil whenever it cannot be sure, and then `decode` decides.
    ///
    /// Understood: `[DONE]` (with spaces or tabs around it), and chunk objects whose members are
    /// - `choices`: `[]`, or `[choice]` whose members are `delta` and scalars (`index`,
    ///   `finish_reason` other than `"length"`, `logprobs: null`, …);
    /// - in `delta`: `content`, `reasoning_content` and `reasoning` (strings or null), `role`
    ///   (a scalar), `refusal: null`;
    /// - `usage: null` (some servers send it in every chunk) and any other member whose value
    ///   is a scalar (`id`, `object`, `created`, `model`, `system_fingerprint`, …).
    ///
    /// Declined: `error` in any form, `usage` with a value, more than one choice, any other
    /// member of `delta` (`tool_calls`, `function_call`, a `refusal` with text, `audio`, …), an
    /// object or array anywhere else, a member that comes twice, and whatever `JSONScanner`
    /// does not accept. When `decode` starts reading another member, it must decline here.
    static func fastDecode(_ data: UnsafeBufferPointer<UInt8>) -> FastDelta? {
        if isDone(data) { return FastDelta(done: true) }
        var content: [UInt8]?, reasoningContent: [UInt8]?, reasoning: [UInt8]?
        var seen = SeenMembers()
        var scanner = JSONScanner(data)
        let read = scanner.object { scanner, key in
            if key.equals("choices") {
                return seen.first(1 << 0) && scanner.array(limit: 1) { scanner in
                    scanner.object { scanner, key in
                        if key.equals("finish_reason") {
                            // "length" (cut at the token limit) is the general decoder's to report.
                            var reason: [UInt8]?
                            return seen.first(1 << 5) && scanner.nullOrString(into: &reason) && reason != Array("length".utf8)
                        }
                        guard key.equals("delta") else { return scanner.skipScalar() }
                        return seen.first(1 << 1) && scanner.object { scanner, key in
                            if key.equals("content") {
                                return seen.first(1 << 2) && scanner.nullOrString(into: &content)
                            } else if key.equals("reasoning_content") {
                                return seen.first(1 << 3) && scanner.nullOrString(into: &reasoningContent)
                            } else if key.equals("reasoning") {
                                return seen.first(1 << 4) && scanner.nullOrString(into: &reasoning)
                            } else if key.equals("role") {
                                return scanner.skipScalar()
                            } else if key.equals("refusal") {
                                return scanner.null()
                            }
                            return false
                        }
                    }
                }
            } else if key.equals("usage") {
                return scanner.null()
            } else if key.equals("error") {
                return false
            }
            return scanner.skipScalar()
        }
        guard read, scanner.atEnd() else { return nil }
        // As `decode`: `reasoning_content` if it is a string (even empty), else `reasoning`.
        return FastDelta(reasoning: reasoningContent ?? reasoning ?? [], text: content ?? [])
    }

    /// `[DONE]` with only spaces and tabs around it (more exotic spaces are `decode`'s).
    private static func isDone(_ data: UnsafeBufferPointer<UInt8>) -> Bool {
        var start = 0, end = data.count
        while start < end, data[start] == 0x20 || data[start] == 0x09 { start += 1 }
        while end > start, data[end - 1] == 0x20 || data[end - 1] == 0x09 { end -= 1 }
        return UnsafeBufferPointer(rebasing: data[start..<end]).equals("[DONE]")
    }
}
