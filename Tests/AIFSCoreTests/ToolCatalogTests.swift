@testable import AIFSCore
import Foundation
import Testing

/// The tool catalog (built-ins, user tools, /ai/tools, the `tools` ctl value) and the checks
/// and command lines of tool arguments.
@Suite("tool catalog")
struct ToolCatalogTests {
    static func userSettings() -> ToolSettings {
        var settings = ToolSettings()
        settings.timeout = 12
        settings.maxOutput = 1000
        settings.userTools["weather"] = ToolDefinition(
            name: "weather", description: "The weather of a city.",
            parameters: #"{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}"#,
            kind: .command(["curl", "-s", "wttr.in/{city}"]), timeout: 5, maxOutput: 100)
        settings.userTools["a-tool"] = ToolDefinition(
            name: "a-tool", description: "A.", parameters: #"{"properties":{},"type":"object"}"#,
            kind: .command(["a"]), timeout: 12, maxOutput: 1000)
        return settings
    }

    func object(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test("the built-ins come first, in order, with the settings' limits; then user tools by name")
    func order() {
        let catalog = ToolCatalog(settings: Self.userSettings())
        #expect(ToolCatalog.builtinNames == ["bash", "read", "write", "list", "ask"])
        #expect(catalog.all.map(\.name) == ["bash", "read", "write", "list", "ask", "a-tool", "weather"])
        #expect(catalog.all.prefix(5).map(\.kind) == [.bash, .read, .write, .list, .ask])
        #expect(catalog.all.prefix(5).allSatisfy { $0.timeout == 12 && $0.maxOutput == 1000 && $0.isBuiltin })
        #expect(catalog.tool(named: "weather")?.timeout == 5)
        #expect(catalog.tool(named: "weather")?.kind == .command(["curl", "-s", "wttr.in/{city}"]))
        #expect(catalog.tool(named: "nope") == nil)
        let defaults = ToolCatalog(settings: ToolSettings())
        #expect(defaults.all.count == 5 && defaults.all.allSatisfy { $0.timeout == 30 && $0.maxOutput == 65536 })
    }

    @Test("built-in schemas: required string arguments, nothing else, compact with sorted keys")
    func schemas() throws {
        let catalog = ToolCatalog(settings: ToolSettings())
        let expected = ["bash": ["command"], "read": ["path"], "write": ["path", "content"], "list": ["path"], "ask": ["socket", "message"]]
        for (name, arguments) in expected {
            let tool = try #require(catalog.tool(named: name))
            let schema = try object(tool.parameters)
            #expect(schema["type"] as? String == "object")
            #expect(schema["required"] as? [String] == arguments)
            #expect(schema["additionalProperties"] as? Bool == false)
            let properties = try #require(schema["properties"] as? [String: [String: String]])
            #expect(properties.keys.sorted() == arguments.sorted())
            #expect(properties.values.allSatisfy { $0["type"] == "string" && !($0["description"] ?? "").isEmpty })
            #expect(!tool.description.isEmpty)
            let sorted = try JSONSerialization.data(withJSONObject: schema, options: [.sortedKeys, .withoutEscapingSlashes])
            #expect(String(decoding: sorted, as: UTF8.self) == tool.parameters)
        }
        #expect(catalog.tool(named: "bash")?.parameters.hasPrefix(#"{"additionalProperties":false,"properties":{"command":{"description":"#) == true)
    }

    @Test("/ai/tools: one JSON object per tool and line, kind builtin or command")
    func listing() throws {
        let catalog = ToolCatalog(settings: Self.userSettings())
        let text = String(decoding: catalog.listing(), as: UTF8.self)
        #expect(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 7)
        for (line, tool) in zip(lines, catalog.all) {
            let entry = try object(line)
            #expect(entry.keys.sorted() == ["description", "kind", "name", "parameters"])
            #expect(entry["name"] as? String == tool.name)
            #expect(entry["description"] as? String == tool.description)
            #expect(entry["kind"] as? String == (tool.isBuiltin ? "builtin" : "command"))
            #expect((entry["parameters"] as? [String: Any])?["type"] as? String == "object")
            #expect(line.hasPrefix(#"{"description":"#))
        }
        #expect(lines[6] == #"{"description":"The weather of a city.","kind":"command","name":"weather","parameters":{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}}"#)
    }

    @Test("the tools ctl value: none, or known names once each, with clear errors")
    func parseEnabled() throws {
        let catalog = ToolCatalog(settings: Self.userSettings())
        #expect(try catalog.parseEnabled("none") == [])
        #expect(try catalog.parseEnabled(" none ") == [])
        #expect(try catalog.parseEnabled("bash") == ["bash"])
        #expect(try catalog.parseEnabled("read, write ,weather") == ["read", "write", "weather"])
        let known = "known: none, bash, read, write, list, ask, a-tool, weather"
        #expect(throws: ControlError("tools: unknown tool 'curl' (\(known))")) { try catalog.parseEnabled("bash,curl") }
        #expect(throws: ControlError("tools: 'bash' is named twice")) { try catalog.parseEnabled("bash,read,bash") }
        #expect(throws: ControlError("tools: an empty name in 'bash,,read' (\(known))")) { try catalog.parseEnabled("bash,,read") }
        #expect(throws: ControlError("tools: give tool names separated by commas, or none (\(known))")) { try catalog.parseEnabled("") }
        #expect(throws: ControlError.self) { try catalog.parseEnabled("none,bash") }
        #expect(throws: ControlError.self) { try catalog.parseEnabled("Bash") }
    }

    func failure(_ text: String, _ schema: String) -> String {
        do {
            _ = try ToolArguments.check(text, schema: schema)
            return "no error"
        } catch {
            return error.message
        }
    }

    @Test("checking arguments: each reason, one line")
    func checkErrors() throws {
        let catalog = ToolCatalog(settings: ToolSettings())
        let bash = try #require(catalog.tool(named: "bash")).parameters
        let write = try #require(catalog.tool(named: "write")).parameters
        #expect(failure("{\"command\": ", bash).hasPrefix("arguments are not JSON: "))
        #expect(failure("ls -la", bash).hasPrefix("arguments are not JSON: "))
        #expect(failure("{\"command\":\"ls\"} x", bash).hasPrefix("arguments are not JSON: "))
        #expect(!failure("{\"command\": \"a\nb\"}", bash).contains("\n"))
        #expect(failure("[\"ls\"]", bash) == "arguments must be a JSON object")
        #expect(failure("\"ls\"", bash) == "arguments must be a JSON object")
        #expect(failure("{}", bash) == "missing required argument 'command'")
        #expect(failure(#"{"path":"x"}"#, write) == "missing required argument 'content'")
        #expect(failure(#"{"path":3,"content":"c"}"#, write) == "argument 'path' must be a string")
        #expect(failure(#"{"command":"ls","x":1}"#, bash) == "unknown argument 'x'")
        let open = #"{"properties":{"n":{"type":"integer"},"f":{"type":"number"},"b":{"type":"boolean"},"a":{"type":"array"},"o":{"type":"object"}},"type":"object"}"#
        #expect(failure(#"{"n":1.5}"#, open) == "argument 'n' must be an integer")
        #expect(failure(#"{"f":"1"}"#, open) == "argument 'f' must be a number")
        #expect(failure(#"{"b":1}"#, open) == "argument 'b' must be a boolean")
        #expect(failure(#"{"a":{}}"#, open) == "argument 'a' must be an array")
        #expect(failure(#"{"o":[]}"#, open) == "argument 'o' must be an object")
        #expect(failure(#"{"extra":true}"#, open) == "no error")
    }

    @Test("checked arguments come back as Swift values: String, Int, Double, Bool, arrays, dictionaries, NSNull")
    func checkValues() throws {
        let schema = #"{"properties":{"n":{"type":"integer"},"f":{"type":"number"},"b":{"type":"boolean"}},"type":"object"}"#
        let arguments = try ToolArguments.check(#" {"n": 3, "f": 2, "b": true, "s": "h\u00e9\n", "a": [1, "x", null], "o": {"k": 2.5}, "z": null} "#, schema: schema)
        #expect(arguments["n"] as? Int == 3)
        #expect(arguments["f"] as? Int == 2)
        #expect(arguments["b"] as? Bool == true)
        #expect(arguments["s"] as? String == "hé\n")
        let array = try #require(arguments["a"] as? [any Sendable])
        #expect(array.count == 3 && array[0] as? Int == 1 && array[1] as? String == "x" && array[2] is NSNull)
        #expect((arguments["o"] as? [String: any Sendable])?["k"] as? Double == 2.5)
        #expect(arguments["z"] is NSNull)
        #expect(try ToolArguments.check(#"{"f":1e3}"#, schema: schema)["f"] as? Double == 1000)
    }

    @Test("a command line: placeholders replaced by arguments, or the JSON on standard input")
    func commandLine() {
        let arguments: [String: any Sendable] = ["city": "Paris", "days": 3, "metric": true, "tags": ["a", 1] as [any Sendable]]
        let json = #"{"city":"Paris","days":3}"#
        let placed = ToolArguments.commandLine(["weather", "{city}", "--days={days}", "{metric}", "{tags}", "{missing}"], arguments: arguments, json: json)
        #expect(placed.argv == ["weather", "Paris", "--days=3", "true", #"["a",1]"#, ""])
        #expect(placed.stdin.isEmpty)
        let piped = ToolArguments.commandLine(["jq", "."], arguments: arguments, json: json)
        #expect(piped.argv == ["jq", "."])
        #expect(piped.stdin == Array((json + "\n").utf8))
        let braces = ToolArguments.commandLine(["awk", "{ print $1 }", "{}"], arguments: arguments, json: json)
        #expect(braces.argv == ["awk", "{ print $1 }", "{}"] && braces.stdin == Array((json + "\n").utf8))
        let nested = ToolArguments.commandLine(["x", "{o}"], arguments: ["o": ["k": "v", "a": 1.5] as [String: any Sendable]], json: "{}")
        #expect(nested.argv == ["x", #"{"a":1.5,"k":"v"}"#])
    }
}
