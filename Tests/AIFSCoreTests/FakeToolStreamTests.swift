import Foundation
import Testing

/// The Swift fake's tool-call responses are well-formed streams in each vendor's shape, and the
/// server keeps the whole body of each request it received.
@Suite("Fake model server: tool-call streams")
struct FakeToolStreamTests {
    typealias JSON = [String: Any]

    static let calls = [
        FakeToolCall(id: "call_a", name: "read", arguments: "{\"path\":\"/some/file\"}", chunks: 4),
        FakeToolCall(id: "call_b", name: "broken", arguments: "{not json", chunks: 2),
        FakeToolCall(id: "call_c", name: "none", arguments: "", chunks: 3),
    ]

    /// The SSE blocks of `bytes`: `(event name or nil, data)`.
    static func events(_ chunks: [[UInt8]]) -> [(name: String?, data: String)] {
        String(decoding: chunks.joined(), as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
            let lines = block.components(separatedBy: "\n")
            return (lines.first { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) },
                    lines.filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }.joined())
        }
    }

    static func parse(_ text: String) throws -> JSON {
        try #require((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? JSON, "not JSON: \(text)")
    }

    @Test("OpenAI: text, then each call's header and argument pieces by index, finish_reason tool_calls, usage, [DONE]")
    func openAI() throws {
        let plan = FakeResponse.openAIToolCalls(Self.calls, text: ["Let ", "me see."]).plan(path: "/v1/chat/completions")
        #expect(plan.status == 200 && !plan.cut)
        let events = Self.events(plan.chunks)
        #expect(events.last?.data == "[DONE]")
        let chunks = try events.dropLast().map { try Self.parse($0.data) }
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["id"] is String })
        let choices = chunks.compactMap { ($0["choices"] as? [JSON])?.first }
        #expect(choices.count == chunks.count - 1, "all but the usage chunk have a choice")
        #expect(choices.last?["finish_reason"] as? String == "tool_calls")
        let deltas = choices.map { $0["delta"] as? JSON ?? [:] }
        #expect(deltas.first?["role"] as? String == "assistant")
        #expect(deltas.compactMap { $0["content"] as? String }.joined() == "Let me see.")
        var ids: [String] = [], names: [String] = [], arguments: [Int: String] = [:], pieces: [Int: Int] = [:]
        for call in deltas.compactMap({ ($0["tool_calls"] as? [JSON])?.first }) {
            let index = try #require(call["index"] as? Int)
            let function = try #require(call["function"] as? JSON)
            if let id = call["id"] as? String {
                ids.append(id)
                names.append(function["name"] as? String ?? "")
                #expect(call["type"] as? String == "function" && function["arguments"] as? String == "")
            } else {
                #expect(function["name"] == nil)
                pieces[index, default: 0] += 1
            }
            arguments[index, default: ""] += function["arguments"] as? String ?? ""
        }
        #expect(ids == ["call_a", "call_b", "call_c"] && names == ["read", "broken", "none"])
        #expect(arguments == [0: "{\"path\":\"/some/file\"}", 1: "{not json", 2: ""])
        #expect(pieces == [0: 4, 1: 2])
        #expect((chunks.last?["usage"] as? JSON)?["total_tokens"] is Int)
    }

    @Test("Anthropic: message_start, a text block, a tool_use block per call with input_json_delta pieces, stop_reason tool_use")
    func anthropic() throws {
        let plan = FakeResponse.anthropicToolCalls(Self.calls, text: ["Let ", "me see."]).plan(path: "/v1/messages")
        let events = Self.events(plan.chunks)
        let data = try events.map { try Self.parse($0.data) }
        #expect(events.map(\.name) == data.map { $0["type"] as? String }, "each event named by its type")
        #expect(data.first?["type"] as? String == "message_start" && data.last?["type"] as? String == "message_stop")
        let end = data[data.count - 2]
        #expect((end["delta"] as? JSON)?["stop_reason"] as? String == "tool_use")
        var starts: [Int: JSON] = [:], text = "", json: [Int: String] = [:], first: [Int: String] = [:], stopped: Set<Int> = []
        for event in data {
            guard let index = event["index"] as? Int else { continue }
            switch event["type"] as? String {
            case "content_block_start": starts[index] = event["content_block"] as? JSON
            case "content_block_stop": stopped.insert(index)
            case "content_block_delta":
                let delta = try #require(event["delta"] as? JSON)
                if delta["type"] as? String == "text_delta" { text += delta["text"] as? String ?? "" }
                if let piece = delta["partial_json"] as? String {
                    if first[index] == nil { first[index] = piece }
                    json[index, default: ""] += piece
                }
            default: Issue.record("unexpected \(event)")
            }
        }
        #expect(text == "Let me see." && starts[0]?["type"] as? String == "text")
        #expect((1...3).map { starts[$0]?["id"] as? String } == ["call_a", "call_b", "call_c"])
        #expect((1...3).allSatisfy { starts[$0]?["type"] as? String == "tool_use" && (starts[$0]?["input"] as? JSON)?.isEmpty == true })
        #expect(json == [1: "{\"path\":\"/some/file\"}", 2: "{not json", 3: ""])
        #expect(first == [1: "", 2: "", 3: ""])
        #expect(stopped == [0, 1, 2, 3])
    }

    @Test("over the wire: the stream arrives as planned, and the server keeps the request's whole body")
    func wire() async throws {
        let server = try await FakeModelServer.start()
        do {
            server.enqueue(.anthropicToolCalls([Self.calls[0]]))
            let body = #"{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"é"}]}]}"#
            let reply = try await Self.post(port: server.port, path: "/v1/messages", body: body)
            #expect(reply.hasPrefix("HTTP/1.1 200"))
            #expect(reply.contains(#""content_block":{"type":"tool_use","id":"call_a","name":"read","input":{}}"#))
            #expect(reply.contains(#""stop_reason":"tool_use""#))
            let request = try #require(server.requests.last)
            #expect(request.bodyText == body)
            #expect((request.messages.first?["content"] as? [JSON])?.first?["tool_use_id"] as? String == "t")
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    /// A bare HTTP/1.1 POST on a socket; the whole answer, read until the server closes.
    static func post(port: Int, path: String, body: String) async throws -> String {
        try await Task.detached {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            let request = Array("POST \(path) HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw POSIXError(.EIO) }
            var answer: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                answer += buffer[..<n]
            }
            return String(decoding: answer, as: UTF8.self)
        }.value
    }
}
