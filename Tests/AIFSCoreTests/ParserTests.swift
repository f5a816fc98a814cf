@testable import AIFSCore
import FuseKit
import Testing

@Suite("ctl command table")
struct ControlCommandTests {
    @Test("valid commands", arguments: [
        ("model echo/slow", ControlCommand.model("echo/slow")),
        ("set temperature 0.7", .set(.temperature, "0.7")),
        ("set max-tokens 100", .set(.maxTokens, "100")),
        ("set top-p 1", .set(.topP, "1")),
        ("set timeout 2.5", .set(.timeout, "2.5")),
        ("set context-tokens 4000", .set(.contextTokens, "4000")),
        ("reset", .reset),
        ("cancel", .cancel),
        ("state inactive", .state(.inactive)),
        ("  headers   on ", .headers(true)),
        ("headers off", .headers(false)),
    ])
    func parses(line: String, expected: ControlCommand) throws {
        #expect(try ControlCommand.parse(String(Substring(line).trimmingSpaces())) == expected)
    }

    @Test("refused lines say why", arguments: [
        ("bogus", "unknown command 'bogus'"),
        ("model", "usage: model PROVIDER/MODEL"),
        ("model a b", "usage: model PROVIDER/MODEL"),
        ("set temperature", "usage: set KEY VALUE"),
        ("set colour red", "unknown setting 'colour'"),
        ("set temperature 3", "temperature must be a number from 0 to 2"),
        ("set temperature hot", "temperature must be a number from 0 to 2"),
        ("set max-tokens -1", "max-tokens must be a whole number from 1 to 10000000"),
        ("set top-p 0", "top-p must be a number above 0, at most 1"),
        ("set timeout 0", "timeout must be seconds above 0, at most 86400"),
        ("state asleep", "unknown state 'asleep'"),
        ("headers maybe", "usage: headers on|off"),
        ("reset now", "usage: reset"),
    ])
    func refuses(line: String, reason: String) {
        #expect(throws: ControlError.self) { try ControlCommand.parse(line) }
        do {
            _ = try ControlCommand.parse(line)
        } catch {
            #expect(error.reason.hasPrefix(reason), "\(error.reason)")
            #expect(error.errno == .EINVAL)
        }
    }

    @Test("several lines: all or nothing, blank lines and comments skipped")
    func lines() throws {
        #expect(try ControlCommand.parseLines("headers on\n\n# note\nreset\n") == [.headers(true), .reset])
        #expect(throws: ControlError.self) { try ControlCommand.parseLines("headers on\nbogus\n") }
        #expect(throws: ControlError.self) { try ControlCommand.parse(String(repeating: "x", count: 5000)) }
    }

    /// Found by FuzzTests: `\r\n` is one Swift character, so splitting the text at the
    /// character `\n` kept `reset\r\n` whole and refused it as "unknown command".
    @Test("CRLF line ends work in all three ctl files, as LF ones do")
    func crlf() throws {
        #expect(try ControlCommand.parseLines("\r\n") == [])
        #expect(try ControlCommand.parseLines("reset\r\n") == [.reset])
        #expect(try ControlCommand.parseLines("headers on\r\n# note\r\n\r\nset temperature 0.5\r\n") == [.headers(true), .set(.temperature, "0.5")])
        #expect(try TeamCommand.parseLines("mode discuss\r\ntimeout 5\r\n") == [.mode(.discuss), .timeout(5)])
        #expect(try DaemonCommand.parseLines("reload\r\ncreate a\r\n") == [.reload, .create("a", model: nil)])
        #expect(throws: ControlError.self) { try ControlCommand.parseLines("reset\r\nbogus\r\n") }
    }

    @Test("set capabilities takes free text, quoted or not, up to 200 bytes")
    func capabilities() throws {
        #expect(try ControlCommand.parse("set capabilities \"writes SQL, reviews code\"") == .set(.capabilities, "writes SQL, reviews code"))
        #expect(try ControlCommand.parse("set capabilities plain words") == .set(.capabilities, "plain words"))
        #expect(throws: ControlError.self) { try ControlCommand.parse("set capabilities " + String(repeating: "x", count: 201)) }
    }

    @Test("daemon ctl commands")
    func daemonCommands() throws {
        #expect(try DaemonCommand.parse("create apollo") == .create("apollo", model: nil))
        #expect(try DaemonCommand.parse("create apollo echo/slow") == .create("apollo", model: "echo/slow"))
        #expect(try DaemonCommand.parse("snapshot") == .snapshot(nil))
        #expect(try DaemonCommand.parse("restore s1") == .restore("s1"))
        #expect(try DaemonCommand.parse("reload") == .reload)
        #expect(throws: ControlError.self) { try DaemonCommand.parse("create") }
        #expect(throws: ControlError.self) { try DaemonCommand.parse("explode") }
    }
}

@Suite("header protocol")
struct HeaderTests {
    func parse(_ text: String) -> (MessageHeaders, String) {
        let (headers, content) = MessageHeaders.parse(Array(text.utf8))
        return (headers, String(decoding: content, as: UTF8.self))
    }

    @Test func priority() {
        let (h, c) = parse("[priority-high] urgent\n")
        #expect(h.priorityHigh && h.recipients.isEmpty && c == "urgent\n")
    }

    @Test func recipientsAndPriority() {
        let (h, c) = parse("[team-chat-to-a][team-chat-to-b] [priority-high]\nhello")
        #expect(h == MessageHeaders(priorityHigh: true, recipients: ["a", "b"]))
        #expect(c == "hello")
    }

    @Test("unknown or malformed headers are content", arguments: [
        "[note] hi", "[team-chat-to-] hi", "[team-chat-to-a b] hi", "[priority-high hi", "hi [priority-high]", "",
        "[team-chat-to-../x] hi",
    ])
    func content(text: String) {
        let (h, c) = parse(text)
        #expect(h == MessageHeaders())
        #expect(c == text)
    }

    @Test("in a socket's own input, team-chat-to is content")
    func recipientsOnlyInTeamChat() {
        let (h, c) = MessageHeaders.parse(Array("[priority-high] [team-chat-to-a] x".utf8), recipients: false)
        #expect(h.priorityHigh && h.recipients.isEmpty)
        #expect(String(decoding: c, as: UTF8.self) == "[team-chat-to-a] x")
    }

    @Test("parsing stops at the first non-header")
    func stopsAtContent() {
        let (h, c) = parse("[priority-high] [note] [team-chat-to-a] x")
        #expect(h.priorityHigh && h.recipients.isEmpty)
        #expect(c == "[note] [team-chat-to-a] x")
    }
}

@Suite("socket names")
struct SocketNameTests {
    @Test("accepted", arguments: ["a", "apollo", "A.b_c-9", String(repeating: "x", count: 64)])
    func ok(name: String) { #expect(SocketName.problem(with: FileName(name)) == nil) }

    @Test("refused", arguments: ["", ".hidden", "a b", "a/b", "..", "ctl", "models", "memory", "snapshots",
                                 "team-chat-all", String(repeating: "x", count: 65), "é", "a\u{0}b"])
    func refused(name: String) { #expect(SocketName.problem(with: FileName(name)) != nil) }

    @Test("invalid UTF-8 is refused, not a crash")
    func invalidUTF8() {
        let name = "\u{FF}"
        var bytes = Array(name.utf8)
        bytes[0] = 0xFF
        let cString = bytes.map { CChar(bitPattern: $0) } + [0]
        let fileName = cString.withUnsafeBufferPointer { FileName(cString: $0.baseAddress!) }
        #expect(fileName.string == nil)
        #expect(SocketName.problem(with: fileName) != nil)
    }
}

@Suite("output buffer")
struct OutputBufferTests {
    @Test("reads consume in order, in pieces")
    func consume() {
        var buffer = OutputBuffer()
        buffer.append(Array("hello world".utf8))
        #expect(buffer.read(max: 5) == .bytes(Array("hello".utf8)))
        #expect(buffer.read(max: 100) == .bytes(Array(" world".utf8)))
        #expect(buffer.read(max: 100) == .nothing)
        #expect(buffer.isEmpty)
    }

    @Test("a failure mark stops a read, then answers once")
    func failureMark() {
        var buffer = OutputBuffer()
        buffer.append(Array("partial\n".utf8))
        buffer.appendFailure()
        buffer.append(Array("next\n".utf8))
        #expect(buffer.read(max: 100) == .bytes(Array("partial\n".utf8)))
        #expect(buffer.read(max: 100) == .failure)
        #expect(buffer.read(max: 100) == .bytes(Array("next\n".utf8)))
        #expect(buffer.isEmpty)
    }

    @Test("large volumes compact without losing bytes")
    func compaction() {
        var buffer = OutputBuffer()
        var expected: [UInt8] = []
        var got: [UInt8] = []
        for i in 0..<2000 {
            let chunk = [UInt8](repeating: UInt8(i % 251), count: 97)
            buffer.append(chunk)
            expected += chunk
            if case .bytes(let b) = buffer.read(max: 50) { got += b }
        }
        while case .bytes(let b) = buffer.read(max: 1000) { got += b }
        #expect(got == expected)
    }
}

@Suite("stream decoding")
struct FormatDecodeTests {
    /// Found by FuzzTests: Foundation's JSON parser drops a raw U+FEFF at the start of a string
    /// or right after an escape, so a reply chunk starting with one lost it.
    @Test("U+FEFF in reply text is kept, wherever it stands in the JSON string")
    func byteOrderMarkInText() throws {
        for text in ["\u{FEFF}8", "\u{12}\u{FEFF}8", "\n\u{FEFF}b", "a\u{FEFF}", "\u{FEFF}\u{FEFF}"] {
            var escaped = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\n": escaped += "\\n"
                case "\u{12}": escaped += "\\u0012"
                default: escaped.unicodeScalars.append(scalar)
                }
            }
            let anthropic = SSEEvent(event: "content_block_delta",
                                     data: "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\(escaped)\"}}")
            #expect(try AnthropicFormat.decode(anthropic) == [.text(text)])
            let openAI = SSEEvent(data: "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(escaped)\"}}]}")
            let deltas = try OpenAIFormat.decode(openAI)
            #expect(deltas.count == 1)
            guard case .text(let got) = deltas.first else { continue }
            #expect(Array(got.unicodeScalars) == Array(text.unicodeScalars), "\(text.debugDescription)")
        }
        // A byte order mark before the object is skipped as before; elsewhere outside a string it is not JSON.
        #expect(try OpenAIFormat.decode(SSEEvent(data: "\u{FEFF}{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}")) == [.text("x")])
        #expect(throws: FormatError.self) { try OpenAIFormat.decode(SSEEvent(data: "{\u{FEFF}\"choices\":[]}")) }
    }

    /// Found by FuzzTests (a mutated Anthropic stream with `"input_tokens":-6`): the decoders
    /// passed any Int on, so a broken or hostile server could make a socket's token totals
    /// negative (`SnapshotCodec.encode` then trapped on `UInt64(tokensIn)`, taking the daemon
    /// down at the next snapshot) or overflow them (`+=` traps). Counts outside 0...2^32 count 0.
    @Test("token counts from the wire are never negative or huge")
    func usageCounts() throws {
        func anthropic(_ data: String) throws -> [StreamDelta] { try AnthropicFormat.decode(SSEEvent(data: data)) }
        #expect(try anthropic("{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":-6,\"\":1}}}") == [.usage(input: 0, output: 0)])
        #expect(try anthropic("{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9223372036854775807}}}") == [.usage(input: 0, output: 0)])
        #expect(try anthropic("{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-1}}") == [.usage(input: 0, output: 0)])
        #expect(try anthropic("{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":12}}") == [.usage(input: 0, output: 12)])
        let openAI = try OpenAIFormat.decode(SSEEvent(data: "{\"choices\":[],\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":9223372036854775807}}"))
        #expect(openAI == [.usage(input: 0, output: 0)])
        #expect(try OpenAIFormat.decode(SSEEvent(data: "{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}")) == [.usage(input: 3, output: 4)])
    }

    /// Found by FuzzTests: `{"error":""}` in an OpenAI stream gave an error with no words at
    /// all, so `error` said "error in the stream: " and nothing more.
    @Test("an OpenAI stream error always says something")
    func emptyStreamError() throws {
        #expect(try OpenAIFormat.decode(SSEEvent(data: "{\"error\":\"\"}")) == [.error("unknown error")])
        #expect(try OpenAIFormat.decode(SSEEvent(data: "{\"error\":{\"message\":\"\"}}")) == [.error("unknown error")])
        #expect(try OpenAIFormat.decode(SSEEvent(data: "{\"error\":{\"message\":\"\",\"type\":\"server_error\"}}")) == [.error("server_error: unknown error")])
        #expect(try OpenAIFormat.decode(SSEEvent(data: "{\"error\":\"overloaded\"}")) == [.error("overloaded")])
    }

    /// Found by FuzzTests: as characters, `:` or a space followed by a combining mark or an
    /// emoji modifier is one character, so `data:\u{1F3FB}` lost its whole line and
    /// `data: \u{301}x` kept the space; the EventSource rules work on unicode scalars.
    @Test("SSE fields are split at the first ':' scalar, and lose one space scalar")
    func sseScalars() {
        func events(_ lines: [String]) -> [SSEEvent] {
            var parser = SSEParser()
            return lines.compactMap { parser.push(line: $0) } + [parser.finish()].compactMap { $0 }
        }
        func data(_ lines: [String]) -> [[Unicode.Scalar]] { events(lines).map { Array($0.data.unicodeScalars) } }
        #expect(data(["data:\u{1F3FB}", ""]) == [["\u{1F3FB}"]])
        #expect(data(["data: \u{301}x", ""]) == [["\u{301}", "x"]])
        #expect(data(["data:  \u{301}x"]) == [[" ", "\u{301}", "x"]])
        #expect(events(["event:\u{301}e", "data:1", ""]).map { $0.event.map { Array($0.unicodeScalars) } } == [["\u{301}", "e"]])
        #expect(data([":\u{301} a comment", "data:1", ""]) == [["1"]])
    }
}
