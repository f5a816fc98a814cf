import Foundation
import Synchronization

/// The `exec` provider's protocol for programs that call tools (documented in docs/tools.md).
///
/// When the socket has tools enabled, the program reads JSON lines on standard input, whatever
/// its `input` setting: first `{"tools": [{"name", "description", "parameters"}…]}`, then
/// `{"role": "system"|"user"|"assistant", "content"}` per turn (the new message last), then per
/// tool round so far `{"role": "assistant", "content", "tool_calls": [{"id", "name",
/// "arguments"}]}` and one `{"role": "tool", "tool_call_id", "content", "is_error"}` per call.
/// On standard output, a line that is a JSON object `{"tool_call": {"id"?, "name",
/// "arguments"}}` (arguments an object, or a string of JSON) calls a tool; every other line is
/// reply text. The program is run once per round: it answers (text only) or calls tools and
/// exits, and is run again with the results.
enum ExecToolProtocol {
    static func standardInput(for request: ProviderRequest) -> [UInt8] {
        var lines: [[String: Any]] = [["tools": request.tools.map { ["name": $0.name, "description": $0.description,
                                                                     "parameters": $0.schemaObject] }]]
        let system = String(decoding: request.systemPrompt, as: UTF8.self)
        if !system.isEmpty { lines.append(["role": "system", "content": system]) }
        for turn in request.turns {
            lines.append(["role": turn.role.rawValue, "content": String(decoding: turn.content, as: UTF8.self)])
        }
        for round in request.toolRounds {
            lines.append(["role": "assistant", "content": round.text,
                          "tool_calls": round.calls.map { ["id": $0.id, "name": $0.name, "arguments": $0.arguments] }])
            for result in round.results {
                lines.append(["role": "tool", "tool_call_id": result.id, "content": result.content, "is_error": result.isError])
            }
        }
        return lines.flatMap { jsonBytes($0) + [0x0A] }
    }

    /// The call a line of output makes, if it is one.
    static func call(in line: [UInt8], number: Int) -> ToolCallRequest? {
        guard line.first == UInt8(ascii: "{"),
              let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
              object.count == 1, let call = object["tool_call"] as? [String: Any], let name = call["name"] as? String else { return nil }
        let arguments: String
        switch call["arguments"] {
        case let text as String: arguments = text
        case let value? where JSONSerialization.isValidJSONObject(value):
            arguments = String(decoding: (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8),
                               as: UTF8.self)
        default: arguments = "{}"
        }
        return ToolCallRequest(id: call["id"] as? String ?? "exec_\(number)", name: name, arguments: arguments)
    }
}

/// The output of a program that may call tools, line by line: tool-call lines become calls
/// (given to the sink once the program has ended, after its text), the rest reply text.
final class ExecToolLines: ReplySink, @unchecked Sendable {
    private let inner: any ReplySink
    private let state = Mutex<(partial: [UInt8], calls: [ToolCallRequest])>(([], []))

    init(_ inner: any ReplySink) { self.inner = inner }

    func text(_ bytes: [UInt8]) {
        var text: [UInt8] = []
        state.withLock { s in
            s.partial.append(contentsOf: bytes)
            while let newline = s.partial.firstIndex(of: 0x0A) {
                let line = Array(s.partial[..<newline])
                s.partial.removeSubrange(...newline)
                if let call = ExecToolProtocol.call(in: line, number: s.calls.count) { s.calls.append(call) } else { text += line + [0x0A] }
            }
        }
        if !text.isEmpty { inner.text(text) }
    }

    /// The end of the output: the last partial line, then the calls.
    func finish() {
        let (rest, calls) = state.withLock { s in
            defer { s = ([], []) }
            return (s.partial, s.calls)
        }
        if let call = ExecToolProtocol.call(in: rest, number: calls.count) {
            calls.forEach(inner.toolCall)
            inner.toolCall(call)
            return
        }
        if !rest.isEmpty { inner.text(rest) }
        calls.forEach(inner.toolCall)
    }

    func reasoning(_ bytes: [UInt8]) { inner.reasoning(bytes) }
    func usage(input: Int, output: Int) { inner.usage(input: input, output: output) }
    func diagnostic(kind: String, _ message: String) { inner.diagnostic(kind: kind, message) }
    func toolCall(_ call: ToolCallRequest) { inner.toolCall(call) }
}
