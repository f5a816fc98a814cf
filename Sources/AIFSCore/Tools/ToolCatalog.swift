import Foundation

/// One tool a model may call: what it is told (name, description, JSON schema of the
/// arguments) and how the daemon runs it.
public struct ToolDefinition: Sendable, Equatable {
    /// A built-in tool, or a user tool's program and arguments (`{name}` placeholders; see
    /// ``ToolArguments/commandLine(_:arguments:json:)``).
    public enum Kind: Sendable, Equatable { case bash, read, write, list, ask, command([String]) }

    public var name: String
    public var description: String
    /// The JSON schema of the arguments, as compact JSON text with sorted keys (an object schema).
    public var parameters: String
    public var kind: Kind
    public var timeout: Double      // seconds
    public var maxOutput: Int       // bytes

    public init(name: String, description: String, parameters: String, kind: Kind, timeout: Double, maxOutput: Int) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.kind = kind
        self.timeout = timeout
        self.maxOutput = maxOutput
    }

    /// Whether this is one of ``ToolCatalog/builtinNames``.
    public var isBuiltin: Bool {
        if case .command = kind { return false }
        return true
    }
}

/// `[tools]` of the configuration: the default limits and the user tools (`[tools.NAME]`).
public struct ToolSettings: Sendable, Equatable {
    public var userTools: [String: ToolDefinition] = [:]
    /// `[tools] timeout`: the default of every tool, in seconds.
    public var timeout: Double = 30
    /// `[tools] max_output`: the default of every tool, in bytes.
    public var maxOutput: Int = 65536
    public init() {}
}

/// The tools the daemon offers: the built-ins, then the user tools of the configuration.
public struct ToolCatalog: Sendable, Equatable {
    public static let builtinNames: [String] = ["bash", "read", "write", "list", "ask"]

    public var all: [ToolDefinition]

    /// The built-ins (with `settings`' timeout and max_output) in ``builtinNames`` order, then
    /// the user tools by name. A user tool named like a built-in is left out (the
    /// configuration refuses one).
    public init(settings: ToolSettings) {
        let builtins = Self.builtinNames.map { Self.builtin($0, timeout: settings.timeout, maxOutput: settings.maxOutput) }
        let users = settings.userTools.keys.sorted().filter { !Self.builtinNames.contains($0) }.map { name in
            var tool = settings.userTools[name]!
            tool.name = name
            return tool
        }
        all = builtins + users
    }

    public func tool(named name: String) -> ToolDefinition? {
        all.first { $0.name == name }
    }

    /// The text of /ai/tools: one JSON object per line, per tool, keys sorted:
    /// `{"description":…,"kind":"builtin"|"command","name":…,"parameters":{…}}`.
    public func listing() -> [UInt8] {
        var text = ""
        for tool in all {
            let parameters = (try? JSONValue.parse(tool.parameters)) ?? .object([:])
            let line = JSONValue.object([
                "description": .string(tool.description),
                "kind": .string(tool.isBuiltin ? "builtin" : "command"),
                "name": .string(tool.name),
                "parameters": parameters,
            ])
            text += line.text + "\n"
        }
        return Array(text.utf8)
    }

    /// Parses a `tools` ctl value: `none` → [], else comma-separated names (spaces around each
    /// allowed), each known, none twice.
    public func parseEnabled(_ text: String) throws(ControlError) -> [String] {
        let trimmed = Substring(text).trimmingSpaces()
        if trimmed == "none" { return [] }
        let known = all.map(\.name)
        let list = "known: none, \(known.joined(separator: ", "))"
        guard !trimmed.isEmpty else { throw ControlError("tools: give tool names separated by commas, or none (\(list))") }
        var names: [String] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let name = String(part.trimmingSpaces())
            guard !name.isEmpty else { throw ControlError("tools: an empty name in '\(trimmed)' (\(list))") }
            guard known.contains(name) else {
                throw ControlError("tools: unknown tool '\(name)' (\(list))")
            }
            guard !names.contains(name) else { throw ControlError("tools: '\(name)' is named twice") }
            names.append(name)
        }
        return names
    }

    // MARK: built-ins

    /// An object schema of required string properties, with `additionalProperties: false`.
    static func stringsSchema(_ properties: [(String, String)]) -> String {
        var members: [String: JSONValue] = [:]
        for (name, description) in properties {
            members[name] = .object(["type": .string("string"), "description": .string(description)])
        }
        return JSONValue.object([
            "type": .string("object"),
            "properties": .object(members),
            "required": .array(properties.map { .string($0.0) }),
            "additionalProperties": .bool(false),
        ]).text
    }

    static func builtin(_ name: String, timeout: Double, maxOutput: Int) -> ToolDefinition {
        let (description, parameters, kind): (String, [(String, String)], ToolDefinition.Kind)
        switch name {
        case "bash":
            (description, parameters, kind) = (
                "Run a shell command with bash and return what it prints (standard output and standard error, cut at the "
                    + "output limit) and its exit status. The command has no terminal and no input, and is stopped at the "
                    + "time limit. Some commands wait for the user's confirmation; dangerous ones are refused.",
                [("command", "The bash command line to run, e.g. \"ls -la /tmp\".")], .bash)
        case "read":
            (description, parameters, kind) = (
                "Read a text file and return its contents (cut at the output limit).",
                [("path", "The file to read: an absolute path.")], .read)
        case "write":
            (description, parameters, kind) = (
                "Write a text file, creating it or replacing all of its contents. Returns the number of bytes written.",
                [("path", "The file to write: an absolute path."),
                 ("content", "The complete new contents of the file.")], .write)
        case "list":
            (description, parameters, kind) = (
                "List the entries of a directory.",
                [("path", "The directory to list: an absolute path.")], .list)
        default:
            (description, parameters, kind) = (
                "Send a message to another AI socket of this aifs mount (/ai/SOCKET) and return its reply. "
                    + "Use it to ask a model with other knowledge or another role.",
                [("socket", "The name of the socket to ask, as in /ai/NAME (see the directory /ai)."),
                 ("message", "The message to send, in full: the other socket does not see this conversation.")], .ask)
        }
        return ToolDefinition(name: name, description: description, parameters: stringsSchema(parameters),
                              kind: kind, timeout: timeout, maxOutput: maxOutput)
    }
}
