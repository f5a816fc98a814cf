@testable import AIFSCore
import Foundation
import PropertyBased
import Testing

/// A stream as a provider would send it, with what it says when it is not mutated.
struct StreamInput: Sendable, CustomTestStringConvertible {
    enum Kind: Sendable { case openai, anthropic, garbage }
    var bytes: [UInt8]
    /// Where the chunk boundaries go (see `chunks`).
    var seed: UInt64
    var kind: Kind
    /// For an unmutated stream: the reply text, the reasoning, and the parsed JSON lines (NDJSON).
    var text: String?
    var reasoning: String?
    var values: [JSON]?

    var testDescription: String { "\(kind) " + FuzzInput(bytes: bytes, seed: seed).testDescription }

}

/// Shrinking a stream removes bytes (and with them the expectations of an unmutated stream).
struct StreamShrink: Sequence, Sendable {
    let input: StreamInput

    func makeIterator() -> AnyIterator<StreamInput> {
        let inner = ByteShrink(input: FuzzInput(bytes: input.bytes, seed: input.seed)).makeIterator()
        let kind = input.kind
        return AnyIterator { inner.next().map { StreamInput(bytes: $0.bytes, seed: $0.seed, kind: kind) } }
    }
}

/// The SSE path (`LineSplitter` → `SSEParser` → `OpenAIFormat`/`AnthropicFormat`) and
/// line-delimited JSON (`LineSplitter` → `FormatError.object`, i.e. `JSONSerialization`) on streams cut at random byte
/// boundaries, including inside UTF-8 sequences and between `\r` and `\n`.
@Suite("fuzz: SSE and NDJSON")
struct StreamFuzzTests {
    // MARK: Making SSE streams

    /// Line endings for one stream: one style, or mixed (never `\r` then `\n`, which is one ending).
    struct Endings {
        var style: Int
        var previousCR = false
        mutating func next(_ r: inout SplitMix) -> String {
            var ending: String
            switch style {
            case 0: ending = "\n"
            case 1: ending = "\r\n"
            case 2: ending = "\r"
            default: ending = r.pick(["\n", "\r\n", "\r"])
            }
            if previousCR, ending == "\n" { ending = "\r\n" }
            previousCR = ending == "\r"
            return ending
        }
    }

    /// One event: comments, unknown fields and `id:` around it, `event:` if named, the data
    /// split into `data:` lines at its newlines, then a blank line.
    static func event(_ name: String?, _ data: String, _ r: inout SplitMix, _ endings: inout Endings) -> String {
        var out = ""
        func line(_ text: String, _ r: inout SplitMix) { out += text + endings.next(&r) }
        if r.chance(10) { line(r.pick([": ping", ":", ": \u{301}comment", "retry: 3000", "foo: bar", "id: 7", "idx"]), &r) }
        if let name { line((r.chance(50) ? "event: " : "event:") + name, &r) }
        for piece in data.split(separator: "\n", omittingEmptySubsequences: false) {
            line((r.chance(50) || piece.hasPrefix(" ") ? "data: " : "data:") + piece, &r)
        }
        if r.chance(5) { line("id: \(r.int(0...99))", &r) }
        line("", &r)
        return out
    }

    static func openAIChunk(_ delta: [(String, JSON)]) -> JSON {
        .object([("id", .string("chatcmpl-1")), ("object", .string("chat.completion.chunk")),
                 ("choices", .array([.object([("index", .int(0)), ("delta", .object(delta)), ("finish_reason", .null)])]))])
    }

    /// An OpenAI stream: chunks of content and reasoning, usage, `[DONE]`.
    static func openAI(_ r: inout SplitMix) -> StreamInput {
        var endings = Endings(style: r.int(below: 5))
        let style = JSON.style(&r, newlines: true)
        var out = "", text = "", reasoning = ""
        for _ in 0..<r.int(0...4) {
            var delta: [(String, JSON)] = []
            if r.chance(20) {
                let piece = JSON.text(&r)
                delta.append((r.chance(50) ? "reasoning_content" : "reasoning", .string(piece)))
                reasoning += piece
            }
            if r.chance(85) {
                let piece = JSON.text(&r)
                delta.append(("content", .string(piece)))
                text += piece
            } else if r.chance(50) {
                delta.append(("content", .null))
            }
            if r.chance(10) { delta.append(("role", .string("assistant"))) }
            out += event(nil, openAIChunk(delta).write(style, &r), &r, &endings)
        }
        if r.chance(50) {
            let usage = JSON.object([("prompt_tokens", .int(Int64(r.int(0...9999)))), ("completion_tokens", .int(Int64(r.int(0...9999))))])
            out += event(nil, JSON.object([("choices", .array([])), ("usage", usage)]).write(style, &r), &r, &endings)
        }
        out += event(nil, r.pick(["[DONE]", " [DONE]", "[DONE] "]), &r, &endings)
        return StreamInput(bytes: Array(out.utf8), seed: r.next(), kind: .openai, text: text, reasoning: reasoning)
    }

    /// An Anthropic stream: message_start, blocks of text and thinking deltas, pings,
    /// message_delta, message_stop.
    static func anthropic(_ r: inout SplitMix) -> StreamInput {
        var endings = Endings(style: r.int(below: 5))
        let style = JSON.style(&r, newlines: true)
        var out = "", text = "", reasoning = ""
        func send(_ type: String, _ members: [(String, JSON)], _ r: inout SplitMix) {
            let data = JSON.object([("type", .string(type))] + members).write(style, &r)
            out += event(r.chance(90) ? type : nil, data, &r, &endings)
        }
        let usage = JSON.object([("input_tokens", .int(Int64(r.int(0...9999)))), ("output_tokens", .int(1))])
        send("message_start", [("message", .object([("id", .string("msg_1")), ("usage", usage)]))], &r)
        for index in 0..<r.int(0...2) {
            let thinking = r.chance(30)
            var first = ""
            if r.chance(30) { first = JSON.text(&r) }
            let block: JSON = thinking ? .object([("type", .string("thinking")), ("thinking", .string(first))])
                                       : .object([("type", .string("text")), ("text", .string(first))])
            if thinking { reasoning += first } else { text += first }
            send("content_block_start", [("index", .int(Int64(index))), ("content_block", block)], &r)
            for _ in 0..<r.int(0...3) {
                if r.chance(10) { send("ping", [], &r) }
                let piece = JSON.text(&r)
                let delta: JSON = thinking ? .object([("type", .string("thinking_delta")), ("thinking", .string(piece))])
                                           : .object([("type", .string("text_delta")), ("text", .string(piece))])
                if thinking { reasoning += piece } else { text += piece }
                send("content_block_delta", [("index", .int(Int64(index))), ("delta", delta)], &r)
            }
            if thinking, r.chance(50) {
                send("content_block_delta", [("index", .int(Int64(index))),
                                             ("delta", .object([("type", .string("signature_delta")), ("signature", .string("c2ln"))]))], &r)
            }
            send("content_block_stop", [("index", .int(Int64(index)))], &r)
        }
        send("message_delta", [("delta", .object([("stop_reason", .string("end_turn"))])),
                               ("usage", .object([("output_tokens", .int(Int64(r.int(0...9999))))]))], &r)
        send("message_stop", [], &r)
        return StreamInput(bytes: Array(out.utf8), seed: r.next(), kind: .anthropic, text: text, reasoning: reasoning)
    }

    /// Events whose data is random JSON, a nesting bomb, an `error` object or garbage.
    static func garbage(_ r: inout SplitMix) -> StreamInput {
        var endings = Endings(style: r.int(below: 5))
        var out = ""
        for _ in 0..<r.int(1...4) {
            let data: String
            switch r.int(below: 10) {
            case 0..<4: data = JSON.random(&r).write(JSON.style(&r, newlines: true), &r)
            case 4: data = nestingBomb(&r, depth: r.chance(90) ? r.int(1...600) : r.int(600...3000))  // the parser's limit is 512
            case 5: data = r.pick(["{\"error\":{\"message\":\"overloaded\",\"type\":\"overloaded_error\"}}", "{\"error\":\"x\"}",
                                   "{\"error\":null}", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}",
                                   "{\"choices\":[{\"delta\":{\"content\":7}}]}", "{\"choices\":{}}", "{\"choices\":[[]]}",
                                   "{\"usage\":{\"prompt_tokens\":1e400,\"completion_tokens\":-1.5}}",
                                   "{\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":4294967297}}",
                                   "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-9223372036854775808}}",
                                   "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9223372036854775808}}}",
                                   "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"\\ud800\"}}",
                                   "{\"a\":\"\\u0000\"}", "[DONE", "", "\u{FEFF}{}", "{\"a\":1,\"a\":2}", "nul", "1", "\"s\""])
            default: data = String(decoding: Zoo.bytes(&r, count: r.length(max: 200)), as: UTF8.self)
            }
            out += event(r.chance(50) ? r.pick(["message_start", "content_block_delta", "error", "message_stop", "x"]) : nil,
                         data, &r, &endings)
        }
        return StreamInput(bytes: Array(out.utf8), seed: r.next(), kind: .garbage)
    }

    static let streams = Generator<StreamInput, StreamShrink>(
        run: { rng in
            var r = SplitMix(&rng)
            var input: StreamInput
            switch r.int(below: 100) {
            case 0..<35: input = openAI(&r)
            case 35..<70: input = anthropic(&r)
            case 70..<90: input = garbage(&r)
            default: input = StreamInput(bytes: Zoo.bytes(&r, count: r.length(max: 500)), seed: r.next(), kind: .garbage)
            }
            if input.kind != .garbage, r.chance(25) {
                input = StreamInput(bytes: Mutate.bytes(input.bytes, &r), seed: input.seed, kind: input.kind)
            }
            return input
        },
        shrink: { StreamShrink(input: $0) })

    // MARK: The reference SSE parser

    /// Events by the rules `SSEParser` documents (the EventSource field rules), applied to
    /// unicode scalars as the standard defines them: lines from `referenceLines`, `:` starts a
    /// comment, the field ends at the first `:`, one space after it is dropped, `data` lines
    /// join with `\n`, a blank line dispatches an event with data or a name, `id` is kept.
    static func referenceEvents(_ bytes: [UInt8]) -> [SSEEvent] {
        var events: [SSEEvent] = []
        var name: String?
        var data: [String] = []
        var id: String?
        func dispatch() {
            if !data.isEmpty || name != nil { events.append(SSEEvent(event: name, data: data.joined(separator: "\n"), id: id)) }
            name = nil
            data = []
        }
        for line in referenceLines(bytes) {
            let s = Array(String(decoding: line, as: UTF8.self).unicodeScalars)
            if s.isEmpty { dispatch(); continue }
            if s[0] == ":" { continue }
            let colon = s.firstIndex(of: ":") ?? s.count
            var value = colon < s.count ? s[(colon + 1)...] : []
            if value.first == " " { value = value.dropFirst() }
            let field = String(String.UnicodeScalarView(s[..<colon]))
            let text = String(String.UnicodeScalarView(value))
            switch field {
            case "event": name = text
            case "data": data.append(text)
            case "id": id = text
            default: break
            }
        }
        dispatch()
        return events
    }

    /// What the provider does: push the chunks through the splitter and the parser, then the
    /// unterminated last line, then the event the stream ended in.
    static func pipeline(_ pieces: [ArraySlice<UInt8>]) -> (lines: [String], events: [SSEEvent]) {
        var splitter = LineSplitter()
        var parser = SSEParser()
        var lines: [String] = []
        var events: [SSEEvent] = []
        for piece in pieces {
            for line in splitter.push(piece) {
                lines.append(line)
                if let event = parser.push(line: line) { events.append(event) }
            }
        }
        if let line = splitter.finish() {
            lines.append(line)
            if let event = parser.push(line: line) { events.append(event) }
        }
        if let event = parser.finish() { events.append(event) }
        return (lines, events)
    }

    /// Events compared field by field, scalar by scalar.
    static func same(_ a: [SSEEvent], _ b: [SSEEvent]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.event.map(scalars) == y.event.map(scalars) && scalars(x.data) == scalars(y.data) && x.id.map(scalars) == y.id.map(scalars)
        }
    }

    static func decode(_ event: SSEEvent, anthropic: Bool) -> Result<[StreamDelta], FormatError> {
        do {
            return .success(anthropic ? try AnthropicFormat.decode(event) : try OpenAIFormat.decode(event))
        } catch {
            return .failure(error)
        }
    }

    @Test("SSE: LineSplitter + SSEParser + OpenAIFormat / AnthropicFormat")
    func sse() async {
        let tally = Tally("SSE parser")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.streams) { input in
            await tally.input()
            // The reference reads the whole buffer at once, so agreeing with it on every chunking
            // is also agreeing with every other chunking.
            let (lines, events) = Self.pipeline(chunks(input.bytes, seed: input.seed))
            let expectedLines = referenceLines(input.bytes).map { String(decoding: $0, as: UTF8.self) }
            tally.check(lines.map(scalars) == expectedLines.map(scalars), "LineSplitter lines differ from the reference")
            let reference = Self.referenceEvents(input.bytes)
            tally.check(Self.same(events, reference), "SSEParser events differ from the reference: \(events.prefix(4)) vs \(reference.prefix(4))")
            tally.add("events", events.count)

            var text = "", reasoning = "", done = 0
            for event in events {
                let dialects: [Bool] = switch input.kind {
                case .openai: [false]
                case .anthropic: [true]
                case .garbage: [false, true]
                }
                for anthropic in dialects {
                    switch Self.decode(event, anthropic: anthropic) {
                    case .success(let deltas):
                        tally.accepted += 1
                        for delta in deltas {
                            switch delta {
                            case .text(let t): text += t
                            case .reasoning(let t): reasoning += t
                            case .done: done += 1
                            case .cut(let how): tally.check(!how.isEmpty, "a cut without its reason")
                            case .error(let message): tally.check(!message.isEmpty, "an empty stream error")
                            case .usage(let i, let o):
                                tally.check((0...(1 << 32)).contains(i) && (0...(1 << 32)).contains(o), "usage \(i) \(o): not a token count")
                            case .toolCall: break  // a fragment: StreamDecoder puts calls together (ToolFormatTests)
                            }
                        }
                    case .failure(let error):
                        tally.refused += 1
                        tally.check(!error.message.isEmpty, "a FormatError without a message")
                    }
                }
            }
            if let expected = input.text {
                tally.check(scalars(text) == scalars(expected), "the reply text \(text.debugDescription) is not \(expected.debugDescription)")
                tally.check(scalars(reasoning) == scalars(input.reasoning ?? ""), "the reasoning differs")
                tally.check(done == 1, "\(done) ends of the stream")
                tally.add("replies reassembled")
            }
        }
        tally.report(started: started)
    }

    // MARK: NDJSON

    static let ndjson = Generator<StreamInput, StreamShrink>(
        run: { rng in
            var r = SplitMix(&rng)
            let crlf = r.chance(30)
            var values: [JSON] = []
            var out = ""
            for _ in 0..<r.int(0...4) {
                if r.chance(10) { out += crlf ? "\r\n" : "\n" }
                let value: JSON = r.chance(70) ? .object([("message", .object([("content", .string(JSON.text(&r)))])),
                                                          ("done", .bool(false)), ("extra", JSON.random(&r))])
                                               : .object([(JSON.text(&r, maxCount: 8), JSON.random(&r))])
                values.append(value)
                out += value.write(JSON.style(&r, newlines: false), &r) + (crlf ? "\r\n" : "\n")
            }
            if r.chance(20), out.hasSuffix("\n") { out.removeLast() }
            var input = StreamInput(bytes: Array(out.utf8), seed: r.next(), kind: .garbage, values: values)
            switch r.int(below: 10) {
            case 0 where r.chance(30):
                input = StreamInput(bytes: Array(nestingBomb(&r, depth: r.chance(90) ? r.int(1...600) : r.int(600...3000)).utf8) + [0x0A],
                                    seed: input.seed, kind: .garbage)
            case 1: input = StreamInput(bytes: Zoo.bytes(&r, count: r.length(max: 300)), seed: input.seed, kind: .garbage)
            case 2, 3: input = StreamInput(bytes: Mutate.bytes(input.bytes, &r), seed: input.seed, kind: .garbage)
            default: break
            }
            return input
        },
        shrink: { StreamShrink(input: $0) })

    @Test("NDJSON: LineSplitter on any chunking + JSON objects per line (FormatError.object)")
    func lineDelimitedJSON() async {
        let tally = Tally("NDJSON")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.ndjson) { input in
            await tally.input()
            var splitter = LineSplitter()
            var lines: [String] = []
            for piece in chunks(input.bytes, seed: input.seed) { lines += splitter.push(piece) }
            if let last = splitter.finish() { lines.append(last) }
            let expected = referenceLines(input.bytes).map { String(decoding: $0, as: UTF8.self) }
            tally.check(lines.map(scalars) == expected.map(scalars), "LineSplitter lines differ from the reference")
            // Each line read the way the providers read JSON (FormatError.object: JSONSerialization).
            var parsed: [Any] = []
            for line in lines where !line.isEmpty {
                do {
                    parsed.append(try FormatError.object(line))
                    tally.accepted += 1
                } catch {
                    tally.refused += 1
                    tally.check((error as? FormatError).map { !$0.message.isEmpty } ?? false, "\(error): not a FormatError with a reason")
                }
            }
            if let values = input.values {
                tally.check(parsed.count == values.count && zip(values, parsed).allSatisfy { $0.matches($1) },
                            "the lines do not read back as the values written: \(parsed.prefix(3)) vs \(values.count) values")
                tally.add("streams read back", 1)
            }
        }
        tally.report(started: started)
    }
}
