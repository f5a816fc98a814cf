@testable import AIFSCore
import Foundation
import Testing

/// The fast paths of the stream decoders (`OpenAIFormat.fastDecode`, `AnthropicFormat.fastDecode`)
/// and the byte-level SSE reading under them: the common vendor shapes are answered, exactly as
/// the general decoder answers them, and every case outside what they know is declined. The
/// generated-input equivalence checks are in FuzzTests (`FastPathFuzzTests`).
@Suite("stream fast path")
struct FastPathTests {
    typealias Dialect = HTTPModelProvider.Dialect

    static func fast(_ dialect: Dialect, _ data: String) -> FastDelta? {
        Array(data.utf8).withUnsafeBufferPointer { bytes in
            dialect == .openai ? OpenAIFormat.fastDecode(bytes) : AnthropicFormat.fastDecode(bytes)
        }
    }

    static func general(_ dialect: Dialect, _ data: String) throws -> [StreamDelta] {
        let event = SSEEvent(event: dialect == .anthropic ? "content_block_delta" : nil, data: data)
        return dialect == .openai ? try OpenAIFormat.decode(event) : try AnthropicFormat.decode(event)
    }

    /// Deltas compared scalar by scalar (`String ==` would take canonically equivalent text as equal).
    static func same(_ a: [StreamDelta], _ b: [StreamDelta]) -> Bool {
        func key(_ delta: StreamDelta) -> String {
            switch delta {
            case .text(let t): "text " + t.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: ",")
            case .reasoning(let t): "reasoning " + t.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: ",")
            default: "\(delta)"
            }
        }
        return a.map(key) == b.map(key)
    }

    static func chunk(_ delta: String, extra: String = "") -> String {
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\(extra)"
            + "\"choices\":[{\"index\":0,\"delta\":\(delta),\"finish_reason\":null}]}"
    }

    static func anthropicDelta(_ type: String, _ key: String, _ text: String) -> String {
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"\(type)\",\"\(key)\":\"\(text)\"}}"
    }

    static let answered: [(Dialect, String, [StreamDelta])] = [
        // Benchmarks/stream_server.py, and its last two events.
        (.openai, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" T123;\"}}]}", [.text(" T123;")]),
        (.openai, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}", []),
        (.openai, "[DONE]", [.done]),
        (.openai, " \t[DONE] ", [.done]),
        // FakeModelServer's OpenAI stream (vLLM, llama.cpp, LM Studio send the same members).
        (.openai, chunk("{\"role\":\"assistant\",\"content\":\"\"}"), []),
        (.openai, chunk("{\"content\":\"Hel\"}"), [.text("Hel")]),
        (.openai, chunk("{\"reasoning_content\":\"thinking…\"}"), [.reasoning("thinking…")]),
        // OpenAI itself: refusal null, logprobs null, service_tier, obfuscation, usage null.
        (.openai, "{\"id\":\"chatcmpl-B\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,\"model\":\"gpt-4o\","
            + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":"
            + "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],"
            + "\"usage\":null,\"obfuscation\":\"q9\"}", []),
        // DeepSeek (reasoning_content, content null), Ollama's /v1 (reasoning), OpenRouter (provider).
        (.openai, chunk("{\"content\":null,\"reasoning_content\":\"Hmm\"}", extra: "\"usage\":null,"), [.reasoning("Hmm")]),
        (.openai, chunk("{\"role\":\"assistant\",\"content\":\"\",\"reasoning\":\"Let me think\"}",
                        extra: "\"system_fingerprint\":\"fp_ollama\","), [.reasoning("Let me think")]),
        (.openai, chunk("{\"content\":\"Hi\"}", extra: "\"provider\":\"OpenAI\","), [.text("Hi")]),
        (.openai, chunk("{\"reasoning\":\"r\",\"content\":\"c\"}"), [.reasoning("r"), .text("c")]),
        // As `decode`: a reasoning_content string, even empty, wins over reasoning; null does not.
        (.openai, chunk("{\"reasoning_content\":\"\",\"reasoning\":\"x\"}"), []),
        (.openai, chunk("{\"reasoning_content\":null,\"reasoning\":\"x\"}"), [.reasoning("x")]),
        (.openai, "{\"choices\":[]}", []),
        (.openai, "{\"choices\":[{}]}", []),
        (.openai, "{}", []),
        // Escapes, unicode, whitespace between the tokens.
        (.openai, chunk("{\"content\":\"a\\nb\\\"c\\\\d\\/e\\u00e9\\u00C9\\ud83d\\ude00\\u0000\\t\\b\\f\\r\"}"),
         [.text("a\nb\"c\\d/eéÉ😀\u{0}\t\u{8}\u{C}\r")]),
        (.openai, chunk("{\"content\":\"wörld 日本語 😀 \u{FEFF}x \u{7F}\"}"), [.text("wörld 日本語 😀 \u{FEFF}x \u{7F}")]),
        (.openai, chunk("{\"content\":\"\\uFEFF\"}"), [.text("\u{FEFF}")]),
        (.openai, " {\n \"choices\" : [ {\t\"delta\" :\r{ \"content\" : \"x\" } } ]\n}\n", [.text("x")]),
        (.openai, "{\"created\":-0,\"a\":true,\"b\":false,\"c\":null,\"d\":123456789012345678,\"choices\":[]}", []),
        // Anthropic: FakeModelServer's events; members in any order.
        (.anthropic, anthropicDelta("text_delta", "text", "Bon"), [.text("Bon")]),
        (.anthropic, anthropicDelta("thinking_delta", "thinking", "hmm"), [.reasoning("hmm")]),
        (.anthropic, anthropicDelta("text_delta", "text", ""), []),
        (.anthropic, anthropicDelta("text_delta", "text", "\\u65e5\\n\\\"q\\\""), [.text("日\n\"q\"")]),
        (.anthropic, "{\"delta\":{\"text\":\"x\",\"type\":\"text_delta\"},\"index\":3,\"type\":\"content_block_delta\"}", [.text("x")]),
        (.anthropic, "{\"type\":\"ping\"}", []),
        (.anthropic, "{\"type\":\"content_block_stop\",\"index\":0}", []),
    ]

    @Test("common shapes are answered, exactly as the general decoder answers them", arguments: answered)
    func answers(dialect: Dialect, data: String, expected: [StreamDelta]) throws {
        let fast = try #require(Self.fast(dialect, data), "declined: \(data)")
        #expect(Self.same(fast.deltas, expected), "\(fast.deltas) for \(data)")
        #expect(Self.same(try Self.general(dialect, data), expected), "the general decoder disagrees")
    }

    static let declined: [(Dialect, String)] = [
        // Meanings the fast path leaves to the general decoder.
        (.openai, "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}"),
        (.openai, "{\"error\":null,\"choices\":[]}"),
        (.openai, "{\"choices\":[],\"error\":\"x\"}"),
        (.openai, "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}"),
        (.openai, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}"),
        (.openai, "{\"choices\":[],\"usage\":{}}"),
        (.openai, chunk("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}")),
        (.openai, chunk("{\"function_call\":{\"name\":\"f\"}}")),
        (.openai, chunk("{\"refusal\":\"I can't\"}")),
        (.openai, chunk("{\"audio\":\"x\"}")),
        (.openai, chunk("{\"content\":\"a\",\"annotations\":null}")),
        (.openai, "{\"choices\":[{\"delta\":{\"content\":\"a\"}},{\"delta\":{\"content\":\"b\"}}]}"),
        (.openai, "{\"choices\":[{\"delta\":{\"content\":\"a\"},\"logprobs\":{\"content\":[]}}]}"),
        (.openai, "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"timings\":{\"predicted_n\":1}}"),
        (.openai, "{\"choices\":[{\"delta\":null}]}"),
        (.openai, "{\"choices\":null}"),
        (.openai, "{\"choices\":[7]}"),
        (.openai, chunk("{\"content\":7}")),
        (.openai, chunk("{\"content\":[\"a\"]}")),
        // A member twice.
        (.openai, chunk("{\"content\":\"a\",\"content\":\"b\"}")),
        (.openai, "{\"choices\":[],\"choices\":[{\"delta\":{\"content\":\"a\"}}]}"),
        (.openai, "{\"choices\":[{\"delta\":{},\"delta\":{\"content\":\"a\"}}]}"),
        // Keys, numbers and whitespace outside the plain JSON it knows.
        (.openai, chunk("{\"con\\u0074ent\":\"a\"}")),
        (.openai, "{\"created\":1.5,\"choices\":[]}"),
        (.openai, "{\"created\":1e3,\"choices\":[]}"),
        (.openai, "{\"created\":01,\"choices\":[]}"),
        (.openai, "{\"created\":1234567890123456789,\"choices\":[]}"),
        (.openai, "{\"created\":-,\"choices\":[]}"),
        (.openai, "{\"choices\":[],}"),
        (.openai, "{\"choices\":[{\"delta\":{\"content\":\"a\"},}]}"),
        (.openai, "\u{FEFF}{\"choices\":[]}"),
        (.openai, "\u{A0}{\"choices\":[]}"),
        (.openai, "{\"choices\":[]}\u{A0}"),
        (.openai, "{\"choices\":[]}\u{B}"),
        (.openai, "{\"choices\":[]} x"),
        (.openai, "{\"choices\":[]"),
        (.openai, "{\"choices\":nul}"),
        (.openai, "{\"choices\":[],\"x\":truex}"),
        (.openai, "[DONE]\n"),
        (.openai, "\u{A0}[DONE]"),
        (.openai, "[DONE"),
        (.openai, ""),
        // Strings: bad escapes, lone surrogates, raw control characters.
        (.openai, chunk("{\"content\":\"\\x\"}")),
        (.openai, chunk("{\"content\":\"\\U00e9\"}")),
        (.openai, chunk("{\"content\":\"\\u00g9\"}")),
        (.openai, chunk("{\"content\":\"\\u00e\"}")),
        (.openai, chunk("{\"content\":\"\\ud800\"}")),
        (.openai, chunk("{\"content\":\"\\udc00x\"}")),
        (.openai, chunk("{\"content\":\"\\ud83d\\u0041\"}")),
        (.openai, chunk("{\"content\":\"\\ud83d\\ud83d\\ude00\"}")),
        (.openai, chunk("{\"content\":\"a\u{1}b\"}")),
        (.openai, chunk("{\"content\":\"a\nb\"}")),
        (.openai, chunk("{\"content\":\"unterminated}")),
        (.openai, "{\"id\":\"\\q\",\"choices\":[]}"),
        // Anthropic: other types, other deltas, other members.
        (.anthropic, "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":4}}}"),
        (.anthropic, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}"),
        (.anthropic, "{\"type\":\"message_stop\"}"),
        (.anthropic, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}"),
        (.anthropic, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"a\"}}"),
        (.anthropic, "{\"type\":\"some_future_event\"}"),
        (.anthropic, "{\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}"),
        (.anthropic, "{\"type\":7}"),
        (.anthropic, "{\"type\":\"content_block_d\\u0065lta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}"),
        (.anthropic, "{\"type\":\"ping\",\"type\":\"content_block_delta\"}"),
        (.anthropic, anthropicDelta("signature_delta", "signature", "abc")),
        (.anthropic, anthropicDelta("input_json_delta", "partial_json", "{")),
        (.anthropic, "{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"a\"}}"),
        (.anthropic, "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\"}}"),
        (.anthropic, "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":null}}"),
        (.anthropic, "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"a\",\"citations\":[]}}"),
        (.anthropic, "{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"a\",\"text\":\"b\"}}"),
        (.anthropic, "{\"type\":\"content_block_delta\",\"usage\":{},\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}"),
        (.anthropic, anthropicDelta("text_delta", "text", "\\ud800")),
        (.anthropic, "{\"type\":\"ping\"} {}"),
    ]

    @Test("everything else is declined, for the general decoder to decide", arguments: declined)
    func declines(dialect: Dialect, data: String) {
        #expect(Self.fast(dialect, data) == nil)
    }

    @Test("a reply cut at the token limit: OpenAI's finish_reason length and Anthropic's stop_reason max_tokens")
    func cutAtTheTokenLimit() throws {
        let openAI = try OpenAIFormat.decode(SSEEvent(event: nil, data: "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}"))
        #expect(openAI == [.text("x"), .cut("finish_reason length")])
        #expect(try OpenAIFormat.decode(SSEEvent(event: nil, data: "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}")) == [])
        let anthropic = try AnthropicFormat.decode(SSEEvent(event: "message_delta", data:
            "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":8}}"))
        #expect(anthropic == [.usage(input: 0, output: 8), .cut("stop_reason max_tokens")])
        // The prompt in all: the cached part is not in input_tokens (llama.cpp and Anthropic's cache).
        let start = try AnthropicFormat.decode(SSEEvent(event: "message_start", data:
            "{\"type\":\"message_start\",\"message\":{\"usage\":{\"cache_read_input_tokens\":16,\"input_tokens\":5,\"output_tokens\":0}}}"))
        #expect(start == [.usage(input: 21, output: 0)])
    }

    @Test("text that is not valid UTF-8 is declined; skipped strings may hold anything")
    func invalidUTF8() {
        func openAI(_ bytes: [UInt8]) -> FastDelta? { bytes.withUnsafeBufferPointer { OpenAIFormat.fastDecode($0) } }
        let head = Array("{\"choices\":[{\"delta\":{\"content\":\"".utf8), tail = Array("\"}}]}".utf8)
        for bad: [UInt8] in [[0xFF], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            #expect(openAI(head + bad + tail) == nil, "\(bad)")
            // The general decoder reads such bytes as U+FFFD; in a member it ignores, so does the fast path.
            let ignored = Array("{\"id\":\"".utf8) + bad + Array("\",\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}".utf8)
            #expect(openAI(ignored)?.deltas == [.text("ok")], "\(bad)")
        }
        #expect(openAI(head + Array("é".utf8) + tail)?.deltas == [.text("é")])
    }

    @Test("the UTF-8 check agrees with String(validating:)")
    func utf8Check() {
        var samples: [[UInt8]] = [[], [0x41], Array("é日😀".utf8), [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80],
                                  [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF]]
        samples += [[0x80], [0xC1, 0xBF], [0xE0, 0x9F, 0xBF], [0xED, 0xBF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF],
                    [0xF5, 0x80, 0x80, 0x80], [0xE1, 0x80], [0xF1, 0x80, 0x80], [0xC2, 0x41], [0xFE], [0x41, 0xE1, 0x80, 0x41]]
        for sample in samples {
            let expected = String(validating: sample, as: UTF8.self) != nil
            #expect(sample.withUnsafeBufferPointer(\.isValidUTF8) == expected, "\(sample)")
        }
    }

    // MARK: SSE on bytes

    static let stream = "event: a\r\ndata: {\"x\":1}\r\n\r\n: comment\ndata:no space\ndata:  two\n\n"
        + "id: 7\revent:\u{301}e\rdata: é\r\r" + "data\n\ndata:\n\nevent: only-name\n\nretry: 5\nfoo\ndata: last"

    /// The events of `stream` cut in two at `split`, through `SSEReader` and through `LineSplitter` + `SSEParser`.
    static func events(_ bytes: [UInt8], split: Int) -> (reader: [SSEEvent], parser: [SSEEvent]) {
        var reader = SSEReader(), splitter = LineSplitter(), parser = SSEParser()
        var fromReader: [SSEEvent] = [], fromParser: [SSEEvent] = []
        for piece in [bytes[..<split], bytes[split...]] {
            Array(piece).withUnsafeBytes { raw in reader.push(raw) { fromReader.append($0.event) } }
            for line in splitter.push(piece) { if let event = parser.push(line: line) { fromParser.append(event) } }
        }
        reader.finish { fromReader.append($0.event) }
        if let line = splitter.finish(), let event = parser.push(line: line) { fromParser.append(event) }
        if let event = parser.finish() { fromParser.append(event) }
        return (fromReader, fromParser)
    }

    @Test("SSEReader gives SSEParser's events, wherever the chunks are cut")
    func readerMatchesParser() {
        let bytes = Array(Self.stream.utf8)
        let expected = [SSEEvent(event: "a", data: "{\"x\":1}"), SSEEvent(data: "no space\n two"),
                        SSEEvent(event: "\u{301}e", data: "é", id: "7"), SSEEvent(data: "", id: "7"), SSEEvent(data: "", id: "7"),
                        SSEEvent(event: "only-name", data: "", id: "7"), SSEEvent(data: "last", id: "7")]
        for split in 0...bytes.count {
            let (reader, parser) = Self.events(bytes, split: split)
            #expect(reader == expected, "split at \(split)")
            #expect(parser == expected, "split at \(split)")
        }
    }

    @Test("bytes that are not UTF-8 are decoded lossily, as the String path did")
    func readerLossy() {
        let bytes: [UInt8] = Array("data: a".utf8) + [0xE2, 0x82] + Array(":b\nevent:".utf8) + [0xFF] + Array("\n\n".utf8)
        for split in 0...bytes.count {
            let (reader, parser) = Self.events(bytes, split: split)
            #expect(reader == [SSEEvent(event: "\u{FFFD}", data: "a\u{FFFD}:b")] && reader == parser, "split at \(split)")
        }
    }

    @Test("the micro-benchmark's streams give the same reply text through both paths, in every chunking")
    func benchmarkStreamsAgree() {
        for dialect in [StreamBenchmark.Dialect.openai, .anthropic] {
            let bytes = StreamBenchmark.events(dialect, count: 200)
            for size in [1, 7, StreamBenchmark.events(dialect, count: 1).count, 4096] {
                let pieces = StreamBenchmark.chunks(bytes, size: size)
                let general = StreamBenchmark.general(pieces, dialect)
                #expect(general == 200 * " T1733000000000000000;".utf8.count, "\(dialect): every token's text, general path")
                #expect(StreamBenchmark.fast(pieces, dialect) == general, "\(dialect), chunks of \(size)")
            }
        }
    }

    @Test("micro-benchmark (AIFS_BENCH_STREAM=1): µs per event, general and fast path",
          .enabled(if: ProcessInfo.processInfo.environment["AIFS_BENCH_STREAM"] == "1"))
    func benchmark() {
        print(StreamBenchmark.report())
    }
}
