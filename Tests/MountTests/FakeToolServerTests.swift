import Foundation
import Testing

/// `fake_model_server.py`'s tool calling, driven by plain HTTP requests (no daemon): the
/// `please-call` script streams tool calls exactly as OpenAI and Anthropic do, a well-formed
/// follow-up gets the next round or the `answer:`, a malformed one HTTP 400.
@Suite("Fake server: tool calls in both wire formats")
struct FakeToolServerTests {
    typealias JSON = [String: Any]

    /// One answer of the fake: its status and body.
    struct Reply {
        var status: Int
        var body: String

        /// The SSE events of the body: `(event name or nil, data)`, in order.
        var events: [(name: String?, data: String)] {
            body.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
                let lines = block.components(separatedBy: "\n")
                let name = lines.first { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
                let data = lines.filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }.joined(separator: "\n")
                return (name, data)
            }
        }

        /// The data of every event as JSON (`[DONE]` left out).
        var chunks: [JSON] { events.filter { $0.data != "[DONE]" }.compactMap { FakeToolServerTests.parse($0.data) } }
    }

    static let script = "Please use the tools.\nplease-call read {\"path\":\"/x\"} ;; list {\"path\":\"/\"}\nplease-call bad {nope"
    static var openAITools: [JSON] { [
        ["type": "function", "function": ["name": "read", "description": "reads", "parameters": ["type": "object"]]],
        ["type": "function", "function": ["name": "list", "description": "lists", "parameters": ["type": "object"]]],
    ] }
    static var anthropicTools: [JSON] { [
        ["name": "read", "description": "reads", "input_schema": ["type": "object"]],
        ["name": "list", "description": "lists", "input_schema": ["type": "object"]],
    ] }

    static func parse(_ text: String) -> JSON? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? JSON
    }

    /// Starts the fake (the port read from its `--ready` FIFO), posts each `(path, body)` in
    /// order, stops it; returns the replies and the request log's lines. The temp directory and
    /// the server go whatever happens (the shell's EXIT trap, then this function).
    func exchange(_ requests: [(String, JSON)]) async throws -> (replies: [Reply], log: [JSON]) {
        let dir = MountedAIFS.makeTempDirectory("aifs-faketools")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let list = requests.map { ["path": $0.0, "body": $0.1] as JSON }
        try JSONSerialization.data(withJSONObject: list).write(to: URL(fileURLWithPath: dir + "/requests.json"))
        let r = await Shell.run("""
            D=\(dir); mkfifo $D/ready
            python3 '\(Shell.directory)/fake_model_server.py' $D/port $D/log --ready $D/ready & SERVER=$!
            trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf $D' EXIT
            read -r PORT < $D/ready  # once the server listens
            python3 - $PORT $D/requests.json $D/log <<'PY'
            import json, sys, urllib.error, urllib.request
            replies = []
            for r in json.load(open(sys.argv[2])):
                request = urllib.request.Request("http://127.0.0.1:%s%s" % (sys.argv[1], r["path"]),
                                                 json.dumps(r["body"]).encode(), {"content-type": "application/json"})
                try:
                    with urllib.request.urlopen(request) as answer:
                        replies.append({"status": answer.status, "body": answer.read().decode()})
                except urllib.error.HTTPError as error:
                    replies.append({"status": error.code, "body": error.read().decode()})
            print(json.dumps({"replies": replies, "log": [json.loads(l) for l in open(sys.argv[3])]}))
            PY
            """, timeout: 60)
        let output = try #require(Self.parse(r.stdout), "\(r)")
        let replies = (output["replies"] as? [JSON] ?? []).map { Reply(status: $0["status"] as? Int ?? 0, body: $0["body"] as? String ?? "") }
        #expect(replies.count == requests.count, "\(r)")
        return (replies, output["log"] as? [JSON] ?? [])
    }

    // MARK: - OpenAI

    static func openAIAssistant(round: Int, _ calls: [(String, String)]) -> JSON {
        ["role": "assistant", "content": NSNull(), "tool_calls": calls.enumerated().map { k, call in
            ["id": "call_\(round)_\(k)", "type": "function", "function": ["name": call.0, "arguments": call.1]] as JSON
        }]
    }

    static func openAI(_ messages: [JSON], tools: Bool = true) -> (String, JSON) {
        var body: JSON = ["model": "m", "stream": true, "messages": [["role": "user", "content": script]] + messages]
        if tools { body["tools"] = openAITools }
        return ("/v1/chat/completions", body)
    }

    static var round1OpenAI: JSON { openAIAssistant(round: 1, [("read", "{\"path\":\"/x\"}"), ("list", "{\"path\":\"/\"}")]) }
    static var results1OpenAI: [JSON] { [
        ["role": "tool", "tool_call_id": "call_1_0", "content": "contents of x"],
        ["role": "tool", "tool_call_id": "call_1_1", "content": "a b"],
    ] }

    @Test("OpenAI: round 1 streams both calls as the API does: header chunk, argument pieces by index, finish_reason tool_calls, usage, [DONE]")
    func openAIRoundOne() async throws {
        let (replies, log) = try await exchange([Self.openAI([], tools: false)])
        let reply = try #require(replies.first)
        #expect(reply.status == 200)
        #expect(reply.events.last?.data == "[DONE]")
        #expect(reply.events.allSatisfy { $0.name == nil })
        let chunks = reply.chunks
        #expect(chunks.count == reply.events.count - 1, "every data line but [DONE] is JSON: \(reply.body)")
        for chunk in chunks {
            #expect(chunk["id"] as? String == "chatcmpl-fake-1")
            #expect(chunk["object"] as? String == "chat.completion.chunk")
            #expect(chunk["created"] is Int)
            #expect(chunk["model"] as? String == "m")
        }
        let usage = try #require(chunks.last)
        #expect((usage["choices"] as? [Any])?.isEmpty == true)
        #expect((usage["usage"] as? JSON)?["completion_tokens"] is Int)
        let choices = chunks.dropLast().map { ($0["choices"] as? [JSON])?.first ?? [:] }
        let finish = try #require(choices.last)
        #expect((finish["delta"] as? JSON)?.isEmpty == true)
        #expect(finish["finish_reason"] as? String == "tool_calls")
        #expect(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })

        let deltas = choices.dropLast().map { $0["delta"] as? JSON ?? [:] }
        let first = try #require(deltas.first)
        #expect(first["role"] as? String == "assistant")
        #expect(first["content"] is NSNull)
        var arguments: [Int: String] = [:], heads: [JSON] = []
        for (n, delta) in deltas.enumerated() {
            let calls = try #require(delta["tool_calls"] as? [JSON])
            #expect(calls.count == 1)
            let call = calls[0], function = try #require(call["function"] as? JSON)
            let index = try #require(call["index"] as? Int)
            if call["id"] != nil {
                heads.append(call)
                #expect(call["type"] as? String == "function")
                #expect(function["arguments"] as? String == "")
            } else {
                #expect(function["name"] == nil && call["type"] == nil)
                #expect(n > 0 && delta["role"] == nil)
                let piece = try #require(function["arguments"] as? String)
                #expect((1...8).contains(piece.count))
            }
            arguments[index, default: ""] += function["arguments"] as? String ?? ""
        }
        #expect(heads.map { $0["id"] as? String } == ["call_1_0", "call_1_1"])
        #expect(heads.map { ($0["function"] as? JSON)?["name"] as? String } == ["read", "list"])
        #expect(heads.map { $0["index"] as? Int } == [0, 1])
        #expect(arguments == [0: "{\"path\":\"/x\"}", 1: "{\"path\":\"/\"}"])
        #expect(deltas.count > 4, "the arguments come in several pieces")
        #expect(log.first?["tools"] as? [String] == [])
    }

    @Test("OpenAI: well-formed results get round 2 (invalid JSON arguments, verbatim), then the answer from the last results")
    func openAIFollowUps() async throws {
        let round2 = Self.openAIAssistant(round: 2, [("bad", "{nope")])
        let (replies, log) = try await exchange([
            Self.openAI([Self.round1OpenAI] + Self.results1OpenAI),
            Self.openAI([Self.round1OpenAI] + Self.results1OpenAI + [round2, ["role": "tool", "tool_call_id": "call_2_0", "content": "bad arguments: not JSON"]]),
        ])
        #expect(replies.map(\.status) == [200, 200])
        let deltas = replies[0].chunks.compactMap { (($0["choices"] as? [JSON])?.first?["delta"] as? JSON)?["tool_calls"] as? [JSON] }
        #expect(deltas.first?.first?["id"] as? String == "call_2_0")
        #expect(deltas.map { ($0[0]["function"] as? JSON)?["arguments"] as? String ?? "" }.joined() == "{nope")
        let text = replies[1].chunks.compactMap { (($0["choices"] as? [JSON])?.first?["delta"] as? JSON)?["content"] as? String }.joined()
        #expect(text == "answer: bad arguments: not JSON")
        #expect(replies[1].events.last?.data == "[DONE]")
        // The log keeps the messages as sent, and the tools' names.
        let sent = try #require(log.last?["body_messages"] as? [JSON])
        #expect(sent.count == 6)
        #expect(sent[4]["tool_calls"] as? [JSON] != nil)
        #expect(log.last?["tools"] as? [String] == ["read", "list"])
        #expect(log.last?["roles"] as? [String] == ["user", "assistant", "tool", "tool", "assistant", "tool"])
        #expect((log.last?["contents"] as? [String])?[1] == "null")
    }

    @Test("OpenAI: a missing result, a wrong tool_call_id, a result out of place, no tools: HTTP 400 saying what is wrong")
    func openAIMalformed() async throws {
        let (replies, _) = try await exchange([
            Self.openAI([Self.round1OpenAI, Self.results1OpenAI[0]]),
            Self.openAI([Self.round1OpenAI, Self.results1OpenAI[0], ["role": "tool", "tool_call_id": "call_9_9", "content": "x"]]),
            Self.openAI([Self.round1OpenAI, Self.results1OpenAI[0], ["role": "user", "content": "hi"], Self.results1OpenAI[1]]),
            Self.openAI([Self.round1OpenAI] + Self.results1OpenAI, tools: false),
            Self.openAI([Self.round1OpenAI, Self.results1OpenAI[0], ["role": "tool", "tool_call_id": "call_1_1", "content": ["x"]]]),
        ])
        #expect(replies.map(\.status) == [400, 400, 400, 400, 400])
        let messages = replies.map { ((Self.parse($0.body)?["error"] as? JSON)?["message"] as? String) ?? "" }
        #expect(messages[0].contains("call_1_1"), "\(messages)")
        #expect(messages[1].contains("call_9_9"), "\(messages)")
        #expect(messages[2].contains("call_1_1"), "\(messages)")
        #expect(messages[3].contains("tools"), "\(messages)")
        #expect(messages[4].contains("content"), "\(messages)")
    }

    // MARK: - Anthropic

    static func anthropic(_ messages: [JSON], tools: Bool = true) -> (String, JSON) {
        var body: JSON = ["model": "m", "stream": true, "max_tokens": 100, "messages": [["role": "user", "content": script]] + messages]
        if tools { body["tools"] = anthropicTools }
        return ("/v1/messages", body)
    }

    static var round1Anthropic: JSON { ["role": "assistant", "content": [
        ["type": "text", "text": "Let me look."],
        ["type": "tool_use", "id": "toolu_1_0", "name": "read", "input": ["path": "/x"]],
        ["type": "tool_use", "id": "toolu_1_1", "name": "list", "input": ["path": "/"]],
    ]] }
    static var results1Anthropic: [JSON] { [
        ["type": "tool_result", "tool_use_id": "toolu_1_0", "content": "contents of x"],
        ["type": "tool_result", "tool_use_id": "toolu_1_1", "content": [["type": "text", "text": "a b"]], "is_error": false],
    ] }

    @Test("Anthropic: round 1 streams tool_use blocks as the API does: input_json_delta pieces, stop_reason tool_use, event names")
    func anthropicRoundOne() async throws {
        let (replies, _) = try await exchange([Self.anthropic([], tools: false)])
        let reply = try #require(replies.first)
        #expect(reply.status == 200)
        let chunks = reply.chunks
        #expect(chunks.count == reply.events.count, "every data line is JSON: \(reply.body)")
        #expect(reply.events.map(\.name) == chunks.map { $0["type"] as? String }, "each event named by its type")
        let types = chunks.map { $0["type"] as? String ?? "" }
        #expect(types.first == "message_start" && types.suffix(2) == ["message_delta", "message_stop"])
        let message = try #require(chunks.first?["message"] as? JSON)
        #expect(message["id"] as? String == "msg_fake_1" && message["type"] as? String == "message")
        #expect(message["role"] as? String == "assistant" && message["model"] as? String == "m")
        #expect((message["content"] as? [Any])?.isEmpty == true && message["stop_reason"] is NSNull)
        #expect(message["usage"] as? JSON != nil)
        let end = chunks[chunks.count - 2]
        #expect(end["delta"] as? NSDictionary == ["stop_reason": "tool_use", "stop_sequence": NSNull()] as NSDictionary)
        #expect((end["usage"] as? JSON)?["output_tokens"] is Int)

        var blocks: [(start: JSON, json: String, deltas: [String], stopped: Bool)] = []
        for chunk in chunks.dropFirst().dropLast(2) {
            let index = try #require(chunk["index"] as? Int)
            guard index < blocks.count || chunk["type"] as? String == "content_block_start" else {
                Issue.record("an event for a block not started: \(chunk)")
                continue
            }
            switch chunk["type"] as? String {
            case "content_block_start":
                #expect(index == blocks.count)
                blocks.append((try #require(chunk["content_block"] as? JSON), "", [], false))
            case "content_block_delta":
                let delta = try #require(chunk["delta"] as? JSON)
                #expect(delta["type"] as? String == "input_json_delta")
                let piece = try #require(delta["partial_json"] as? String)
                blocks[index].json += piece
                blocks[index].deltas.append(piece)
            case "content_block_stop":
                blocks[index].stopped = true
            default:
                Issue.record("unexpected event \(chunk)")
            }
        }
        #expect(blocks.count == 2 && blocks.allSatisfy(\.stopped))
        #expect(blocks.map { $0.start["type"] as? String } == ["tool_use", "tool_use"])
        #expect(blocks.map { $0.start["id"] as? String } == ["toolu_1_0", "toolu_1_1"])
        #expect(blocks.map { $0.start["name"] as? String } == ["read", "list"])
        #expect(blocks.allSatisfy { ($0.start["input"] as? JSON)?.isEmpty == true })
        #expect(blocks.map(\.json) == ["{\"path\":\"/x\"}", "{\"path\":\"/\"}"])
        #expect(blocks.allSatisfy { $0.deltas.first == "" && $0.deltas.count > 2 })
    }

    @Test("Anthropic: well-formed results get round 2 (invalid JSON arguments, input {}), then the answer from string and block results")
    func anthropicFollowUps() async throws {
        let round2: JSON = ["role": "assistant", "content": [["type": "tool_use", "id": "toolu_2_0", "name": "bad", "input": [:] as JSON]]]
        let results2: JSON = ["role": "user", "content": [
            ["type": "tool_result", "tool_use_id": "toolu_2_0", "content": [["type": "text", "text": "not JSON"]], "is_error": true],
            ["type": "text", "text": "go on"],
        ]]
        let results1: JSON = ["role": "user", "content": Self.results1Anthropic]
        let (replies, log) = try await exchange([
            Self.anthropic([Self.round1Anthropic, results1]),
            Self.anthropic([Self.round1Anthropic, results1, round2, results2]),
        ])
        #expect(replies.map(\.status) == [200, 200])
        let round = replies[0].chunks
        #expect((round.first { $0["type"] as? String == "content_block_start" }?["content_block"] as? JSON)?["id"] as? String == "toolu_2_0")
        let json = round.compactMap { ($0["delta"] as? JSON)?["partial_json"] as? String }.joined()
        #expect(json == "{nope")
        let text = replies[1].chunks.compactMap { ($0["delta"] as? JSON)?["text"] as? String }.joined()
        #expect(text == "answer: not JSON")
        let sent = try #require(log.last?["body_messages"] as? [JSON])
        #expect(sent.count == 5)
        #expect(((sent.last?["content"] as? [JSON])?.first)?["is_error"] as? Bool == true)
        #expect(log.last?["tools"] as? [String] == ["read", "list"])
    }

    @Test("Anthropic: the answer joins the last round's results with ' | '")
    func anthropicAnswerJoins() async throws {
        let script = "please-call read {\"path\":\"/x\"} ;; list {\"path\":\"/\"}"
        let body: JSON = ["model": "m", "max_tokens": 100, "tools": Self.anthropicTools, "messages": [
            ["role": "user", "content": script], Self.round1Anthropic, ["role": "user", "content": Self.results1Anthropic],
        ]]
        let (replies, _) = try await exchange([("/v1/messages", body)])
        let text = replies.first?.chunks.compactMap { ($0["delta"] as? JSON)?["text"] as? String }.joined()
        #expect(text == "answer: contents of x | a b")
    }

    @Test("Anthropic: a missing tool_result, a wrong tool_use_id, a result not first, an input not an object, no tools: HTTP 400")
    func anthropicMalformed() async throws {
        let (r0, r1) = (Self.results1Anthropic[0], Self.results1Anthropic[1])
        let stringInput: JSON = ["role": "assistant", "content": [["type": "tool_use", "id": "toolu_1_0", "name": "read", "input": "{nope"]]]
        let (replies, _) = try await exchange([
            Self.anthropic([Self.round1Anthropic, ["role": "user", "content": [r0]]]),
            Self.anthropic([Self.round1Anthropic, ["role": "user", "content": [r0, r1, ["type": "tool_result", "tool_use_id": "toolu_9_9", "content": "x"]]]]),
            Self.anthropic([Self.round1Anthropic, ["role": "user", "content": [["type": "text", "text": "here"], r0, r1]]]),
            Self.anthropic([stringInput, ["role": "user", "content": [r0]]]),
            Self.anthropic([Self.round1Anthropic, ["role": "user", "content": [r0, r1]]], tools: false),
            Self.anthropic([Self.round1Anthropic]),
        ])
        #expect(replies.map(\.status) == [400, 400, 400, 400, 400, 400])
        let errors = replies.map { Self.parse($0.body) ?? [:] }
        #expect(errors.allSatisfy { $0["type"] as? String == "error" && ($0["error"] as? JSON)?["type"] as? String == "invalid_request_error" })
        let messages = errors.map { ($0["error"] as? JSON)?["message"] as? String ?? "" }
        #expect(messages[0].contains("toolu_1_1"), "\(messages)")
        #expect(messages[1].contains("toolu_9_9"), "\(messages)")
        #expect(messages[2].contains("first"), "\(messages)")
        #expect(messages[3].contains("input"), "\(messages)")
        #expect(messages[4].contains("tools"), "\(messages)")
        #expect(messages[5].contains("toolu_1_0"), "\(messages)")
    }

    // MARK: - Both

    @Test("please-call-forever calls in every round; a request without a script is answered as before")
    func foreverAndPlain() async throws {
        let forever = "please-call-forever tick {}"
        var messages: [JSON] = [["role": "user", "content": forever]]
        for round in 1...4 {
            messages.append(Self.openAIAssistant(round: round, [("tick", "{}")]))
            messages.append(["role": "tool", "tool_call_id": "call_\(round)_0", "content": "tock"])
        }
        let (replies, _) = try await exchange([
            ("/v1/chat/completions", ["model": "m", "tools": Self.openAITools, "messages": messages]),
            ("/v1/chat/completions", ["model": "m", "messages": [["role": "user", "content": "hello there"]]]),
            ("/v1/messages", ["model": "m", "messages": [["role": "user", "content": "please-say just this"]]]),
        ])
        #expect(replies.map(\.status) == [200, 200, 200])
        let call = replies[0].chunks.compactMap { (($0["choices"] as? [JSON])?.first?["delta"] as? JSON)?["tool_calls"] as? [JSON] }.first?.first
        #expect(call?["id"] as? String == "call_5_0")
        #expect(replies[1].body == """
            data: {"choices": [{"index": 0, "delta": {"content": "reply:"}}]}\n\ndata: {"choices": [{"index": 0, "delta": {"content": " hello"}}]}\n\n\
            data: {"choices": [{"index": 0, "delta": {"content": " there"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}\n\n\
            data: [DONE]\n\n
            """)
        #expect(replies[2].chunks.compactMap { ($0["delta"] as? JSON)?["text"] as? String }.joined() == "just this")
    }
}
