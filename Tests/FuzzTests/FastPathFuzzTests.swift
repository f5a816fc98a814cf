@testable import AIFSCore
import PropertyBased
import Testing

/// The stream fast paths (`OpenAIFormat.fastDecode`, `AnthropicFormat.fastDecode`) against the
/// general decoders on generated events: whenever a fast path answers, its answer is the general
/// decoder's, scalar for scalar (and the general decoder does not refuse the event); for the
/// common vendor shapes it does answer. Plus `SSEReader` (SSE on bytes) against `SSEParser` on
/// every stream of the SSE fuzz target, and the UTF-8 check against `String(validating:)`.
@Suite("fuzz: stream fast path")
struct FastPathFuzzTests {
    // MARK: Making events

    /// Plain top-level members of a chunk as vendors send them: all scalars, all understood.
    static func vendorMembers(_ r: inout SplitMix) -> [(String, JSON)] {
        var members: [(String, JSON)] = []
        if r.chance(60) { members.append(("id", .string("chatcmpl-\(r.int(0...99_999))"))) }
        if r.chance(60) { members.append(("object", .string("chat.completion.chunk"))) }
        if r.chance(50) { members.append(("created", .int(Int64(r.int(-1...2_000_000_000))))) }
        if r.chance(50) { members.append(("model", .string(r.pick(["gpt-4o", "deepseek-reasoner", "llama3.2", "qwen/qwen3"])))) }
        if r.chance(30) { members.append(("system_fingerprint", r.chance(80) ? .string("fp_ollama") : .null)) }
        if r.chance(15) { members.append((r.pick(["service_tier", "provider", "obfuscation"]), .string(JSON.text(&r, maxCount: 6)))) }
        if r.chance(20) { members.append(("usage", .null)) }
        if r.chance(10) { members.append(("done", .bool(r.chance(50)))) }
        return members
    }

    /// Members that change what an event means or that the fast path does not know: it must
    /// decline them (or, for some, may answer, if it answers as the general decoder does).
    static func unusual(_ r: inout SplitMix) -> (String, JSON) {
        switch r.int(below: 8) {
        case 0: return ("error", r.chance(50) ? .object([("message", .string(JSON.text(&r))), ("type", .string("server_error"))]) : JSON.random(&r))
        case 1: return ("usage", .object([("prompt_tokens", .int(Int64(r.int(0...99)))), ("completion_tokens", .int(Int64(r.int(0...99))))]))
        case 2: return ("tool_calls", .array([.object([("index", .int(0)), ("function", .object([("arguments", .string("{"))]))])]))
        case 3: return (r.pick(["function_call", "audio", "logprobs", "timings"]), JSON.random(&r))
        case 4: return ("refusal", .string(JSON.text(&r)))
        case 5: return (r.pick(["content", "reasoning", "delta", "choices", "type", "text"]), JSON.random(&r))
        case 6: return ("created", .double(Double(r.int(0...1000)) / 8))
        default: return (JSON.text(&r, maxCount: 8), JSON.random(&r))
        }
    }

    /// Escapes and raw characters inside a text, the valid ones and the ones to decline.
    static let validPieces = ["\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t", "\\u00e9", "\\u00C9", "\\ud83d\\ude00",
                              "\\uD83D\\uDE00", "\\u0000", "\\uFEFF", "\u{FEFF}", "\\u2028", "é", "日", "😀", "a", " ", "\u{7F}", "e\u{301}"]
    static let invalidPieces = ["\\ud800", "\\udc00", "\\ud83d\\u0041", "\\ud83d\\ud83d", "\\x", "\\U0041", "\\u00g1", "\\u12",
                                "\u{1}", "\n", "\\", "\\'", "\\ ", "\""]

    /// A text written by hand from those pieces, and whether all of them were valid.
    static func escapedText(_ r: inout SplitMix) -> (String, Bool) {
        var text = "", valid = true
        for _ in 0..<r.int(1...8) {
            if r.chance(8) {
                text += r.pick(invalidPieces)
                valid = false
            } else {
                text += r.pick(validPieces)
            }
        }
        return (text, valid)
    }

    /// Whether the generator made a shape the fast path must answer ("common"), and the data.
    static func finish(_ common: Bool, _ data: String, _ r: inout SplitMix) -> (String, [UInt8]) {
        if r.chance(12) { return ("mutated", Mutate.bytes(Array(data.utf8), &r)) }
        return (common ? "common" : "other", Array(data.utf8))
    }

    static let openAIEvents = Generator<FuzzInput, ByteShrink>.tagged { r in
        switch r.int(below: 100) {
        case 0..<8:
            let common = r.chance(80)
            let done = common ? r.pick(["[DONE]", " [DONE]", "[DONE] ", "\t[DONE]\t"]) : r.pick(["[DONE]\n", "\u{A0}[DONE]", "[DONE", "[done]", " [ DONE]"])
            return finish(common, done, &r)
        case 8..<20:
            // In a text it returns, or in a member it skips (`id`, `finish_reason`).
            let (text, valid) = escapedText(&r)
            switch r.int(below: 4) {
            case 0: return finish(valid, "{\"id\":\"\(text)\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}", &r)
            case 1: return finish(valid, "{\"choices\":[{\"finish_reason\":\"\(text)\",\"delta\":{\"role\":\"\(text)\"}}]}", &r)
            default:
                let key = r.pick(["content", "reasoning_content", "reasoning"])
                return finish(valid, "{\"choices\":[{\"index\":0,\"delta\":{\"\(key)\":\"\(text)\"}}]}", &r)
            }
        default:
            var common = true
            var delta: [(String, JSON)] = []
            func text(_ r: inout SplitMix) -> JSON { r.chance(10) ? .null : .string(JSON.text(&r, maxCount: r.chance(10) ? 200 : 16)) }
            if r.chance(80) { delta.append(("content", text(&r))) }
            if r.chance(25) { delta.append(("reasoning_content", text(&r))) }
            if r.chance(15) { delta.append(("reasoning", text(&r))) }
            if r.chance(25) { delta.append(("role", .string("assistant"))) }
            if r.chance(10) { delta.append(("refusal", .null)) }
            var choice: [(String, JSON)] = [("index", .int(0)), ("delta", .object(delta.shuffled(using: &r)))]
            // Not "length": a cut at the token limit is the general decoder's to report.
            if r.chance(50) { choice.append(("finish_reason", r.chance(70) ? .null : .string(r.pick(["stop", "tool_calls", "content_filter"])))) }
            if r.chance(20) { choice.append(("logprobs", .null)) }
            var top = vendorMembers(&r)
            var choices: [JSON] = r.chance(90) ? [.object(choice.shuffled(using: &r))] : []
            if r.chance(30) {
                common = false
                switch r.int(below: 4) {
                case 0: top.append(unusual(&r))
                case 1: delta.append(unusual(&r)); choices = [.object([("delta", .object(delta))])]
                case 2: choice.append(unusual(&r)); choices = [.object(choice)]
                default: choices.append(.object([("delta", .object([("content", .string("second"))]))]))
                }
            }
            top.append(("choices", .array(choices)))
            return finish(common, JSON.object(top.shuffled(using: &r)).write(JSON.style(&r, newlines: r.chance(30)), &r), &r)
        }
    }

    static let anthropicEvents = Generator<FuzzInput, ByteShrink>.tagged { r in
        var common = true
        var members: [(String, JSON)] = []
        switch r.int(below: 100) {
        case 0..<15:
            let (text, valid) = escapedText(&r)
            if r.chance(30) { return finish(valid, "{\"type\":\"ping\",\"note\":\"\(text)\"}", &r) }
            return finish(valid, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\(text)\"}}", &r)
        case 15..<70:
            let thinking = r.chance(30)
            let delta: [(String, JSON)] = [("type", .string(thinking ? "thinking_delta" : "text_delta")),
                                           (thinking ? "thinking" : "text", .string(JSON.text(&r, maxCount: r.chance(10) ? 200 : 16)))]
            members = [("type", .string("content_block_delta")), ("delta", .object(delta.shuffled(using: &r)))]
        case 70..<78: members = [("type", .string("ping"))]
        case 78..<86: members = [("type", .string("content_block_stop"))]
        default:
            common = false
            switch r.int(below: 4) {
            case 0: members = [("type", .string(r.pick(["message_start", "message_delta", "message_stop", "error", "content_block_start", "x"])))]
            case 1: members = [("type", .string("content_block_delta")),
                               ("delta", .object([("type", .string(r.pick(["signature_delta", "input_json_delta"]))), ("signature", .string("c2ln"))]))]
            case 2: members = [("delta", .object([("type", .string("text_delta")), ("text", .string("no type"))]))]
            default: members = [("type", .string("content_block_delta")), ("delta", .object([("type", .string("text_delta")), unusual(&r)]))]
            }
        }
        if r.chance(70) { members.append(("index", .int(Int64(r.int(0...3))))) }
        if r.chance(15) {
            common = false
            members.append(unusual(&r))
        }
        return finish(common, JSON.object(members.shuffled(using: &r)).write(JSON.style(&r, newlines: r.chance(30)), &r), &r)
    }

    // MARK: Checking

    /// Deltas as comparable keys, texts scalar by scalar.
    static func keys(_ deltas: [StreamDelta]) -> [String] {
        deltas.map { delta in
            switch delta {
            case .text(let t): "text \(scalars(t))"
            case .reasoning(let t): "reasoning \(scalars(t))"
            default: "\(delta)"
            }
        }
    }

    /// The property for one event's data: a fast answer is the general decoder's answer.
    /// Returns whether the fast path answered.
    @discardableResult
    static func check(_ data: [UInt8], anthropic: Bool, name: String? = nil, _ tally: Tally) -> Bool {
        let fast = data.withUnsafeBufferPointer { anthropic ? AnthropicFormat.fastDecode($0) : OpenAIFormat.fastDecode($0) }
        guard let fast else {
            tally.refused += 1
            return false
        }
        tally.accepted += 1
        let event = SSEEvent(event: name, data: String(decoding: data, as: UTF8.self))
        do {
            let general = anthropic ? try AnthropicFormat.decode(event) : try OpenAIFormat.decode(event)
            tally.check(keys(fast.deltas) == keys(general), "fast \(fast.deltas) but general \(general) for \(event.data.debugDescription)")
        } catch {
            tally.check(false, "the fast path answered \(fast.deltas), the general decoder refused \(event.data.debugDescription): \(error)")
        }
        return true
    }

    @Test("OpenAI: the fast path answers the common shapes, always as the general decoder does")
    func openAI() async {
        let tally = Tally("fast path, OpenAI")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.openAIEvents) { input in
            await tally.input()
            let answered = Self.check(input.bytes, anthropic: false, tally)
            if input.tag == "common" {
                tally.check(answered, "a common shape was declined")
                tally.add("common")
            }
        }
        tally.report(started: started)
    }

    @Test("Anthropic: the fast path answers the common shapes, always as the general decoder does")
    func anthropic() async {
        let tally = Tally("fast path, Anthropic")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.anthropicEvents) { input in
            await tally.input()
            let name = input.seed % 3 == 0 ? nil : input.seed % 3 == 1 ? "content_block_delta" : "ping"
            let answered = Self.check(input.bytes, anthropic: true, name: name, tally)
            if input.tag == "common" {
                tally.check(answered, "a common shape was declined")
                tally.add("common")
            }
        }
        tally.report(started: started)
    }

    @Test("SSEReader on any chunking gives SSEParser's events; the fast path agrees on each of them")
    func streams() async {
        let tally = Tally("SSE on bytes")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: StreamFuzzTests.streams) { input in
            await tally.input()
            let pieces = chunks(input.bytes, seed: input.seed)
            let dialects: [Bool] = switch input.kind {
            case .openai: [false]
            case .anthropic: [true]
            case .garbage: [false, true]
            }
            var reader = SSEReader()
            var events: [SSEEvent] = []
            func take(_ fields: SSEFields) {
                let event = fields.event
                events.append(event)
                for anthropic in dialects { Self.check(fields.data, anthropic: anthropic, name: event.event, tally) }
            }
            for piece in pieces { Array(piece).withUnsafeBytes { reader.push($0, take) } }
            reader.finish(take)
            let expected = StreamFuzzTests.pipeline(pieces).events
            tally.check(StreamFuzzTests.same(events, expected), "SSEReader events differ from SSEParser's: \(events.prefix(4)) vs \(expected.prefix(4))")
            tally.add("events", events.count)
        }
        tally.report(started: started)
    }

    @Test("the UTF-8 check agrees with String(validating:)")
    func utf8() async {
        let tally = Tally("UTF-8 check")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Generator<FuzzInput, ByteShrink>.bytes { r in Zoo.bytes(&r, count: r.length(max: 40)) }) { input in
            await tally.input()
            let valid = input.bytes.withUnsafeBufferPointer(\.isValidUTF8)
            if valid { tally.accepted += 1 } else { tally.refused += 1 }
            tally.check(valid == (String(validating: input.bytes, as: UTF8.self) != nil), "isValidUTF8 says \(valid)")
        }
        tally.report(started: started)
    }
}
