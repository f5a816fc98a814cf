@testable import AIFSCore
import Foundation
import Testing

/// The `exec` provider's JSON-lines protocol for programs that call tools (docs/tools.md).
@Suite("exec provider: tools")
struct ExecToolTests {
    static let tools = [ToolSpec(name: "list", description: "List a directory", parameters: "{\"type\":\"object\"}")]

    func request(rounds: [ToolRound] = []) -> ProviderRequest {
        var request = ProviderRequest(model: "m", systemPrompt: [], turns: [Turn(role: .user, content: Array("what is here?".utf8))],
                                      settings: [:])
        request.tools = Self.tools
        request.toolRounds = rounds
        return request
    }

    @Test("stdin: the tools line, the turns, then each round's calls and results")
    func standardInput() throws {
        let round = ToolRound(text: "", calls: [ToolCallRequest(id: "exec_0", name: "list", arguments: "{\"path\":\".\"}")],
                              results: [ToolCallResult(id: "exec_0", content: "a\nb\n", isError: false)])
        let lines = String(decoding: ExecToolProtocol.standardInput(for: request(rounds: [round])), as: UTF8.self).split(separator: "\n")
        #expect(lines == [
            #"{"tools":[{"description":"List a directory","name":"list","parameters":{"type":"object"}}]}"#,
            #"{"content":"what is here?","role":"user"}"#,
            #"{"content":"","role":"assistant","tool_calls":[{"arguments":"{\"path\":\".\"}","id":"exec_0","name":"list"}]}"#,
            #"{"content":"a\nb\n","is_error":false,"role":"tool","tool_call_id":"exec_0"}"#,
        ])
    }

    /// The worked example of docs/tools.md: lists the directory when asked, answers with the result.
    static let program = """
        import json, sys
        lines = [json.loads(l) for l in sys.stdin]
        results = [l for l in lines if l.get("role") == "tool"]
        if results:
            print("The directory holds:\\n" + results[-1]["content"])
        else:
            print("looking")
            print(json.dumps({"tool_call": {"name": "list", "arguments": {"path": "."}}}))
        """

    @Test("stdout: a tool_call line is a call (after the text), every other line is text; the next round gets the result")
    func calls() async throws {
        let provider = ExecProvider(command: ["python3", "-c", Self.program])
        let first = RecordingSink()
        try await provider.respond(to: request(), into: first)
        #expect(first.textString == "looking\n")
        #expect(first.calls == [ToolCallRequest(id: "exec_0", name: "list", arguments: "{\"path\":\".\"}")])
        let second = RecordingSink()
        let round = ToolRound(text: first.textString, calls: first.calls, results: [ToolCallResult(id: "exec_0", content: "x\n", isError: false)])
        try await provider.respond(to: request(rounds: [round]), into: second)
        #expect(second.textString == "The directory holds:\nx\n\n")
        #expect(second.calls.isEmpty)
    }

    @Test("a line that only looks like a call (not one object with tool_call and a name) is text")
    func notACall() {
        #expect(ExecToolProtocol.call(in: Array(#"{"tool_call": {"arguments": {}}}"#.utf8), number: 0) == nil)
        #expect(ExecToolProtocol.call(in: Array(#"{"tool_call": {"name": "x"}, "more": 1}"#.utf8), number: 0) == nil)
        #expect(ExecToolProtocol.call(in: Array(#"{"tool_call": {"name": "x", "arguments": "{\"a\":1}"}}"#.utf8), number: 3)
                == ToolCallRequest(id: "exec_3", name: "x", arguments: "{\"a\":1}"))
    }
}
