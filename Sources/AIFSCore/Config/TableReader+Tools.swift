import Foundation
import TOMLKit

/// `[security]` (the mode and patterns tool calls are judged by) and `[tools]` (the tools'
/// default limits and the user tools, `[tools.NAME]`).
extension TableReader {
    static let securityKeys = "mode, dangerous_patterns, require_confirm, allow, confirm_timeout"
    static let toolKeys = "description, parameters, command, timeout, max_output"
    static let maxToolTimeout: Double = 86_400
    static let maxToolOutput = 16 << 20

    /// `[security]`: a given pattern list replaces the default one; every pattern must compile.
    func readSecurity(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for key in table.keys {
            let path = "security.\(key)"
            switch key {
            case "mode":
                let text = try string(table, path)
                guard let mode = SecurityMode(rawValue: text) else {
                    throw error(path, "'\(text)' is not a mode (\(SecurityMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                config.security.mode = mode
            case "dangerous_patterns": config.security.dangerousPatterns = try patterns(table, path)
            case "require_confirm": config.security.requireConfirm = try patterns(table, path)
            case "allow": config.security.allow = try patterns(table, path)
            case "confirm_timeout": config.security.confirmTimeout = try duration(table, path)
            default: throw error(path, "unknown key (known: \(Self.securityKeys))")
            }
        }
    }

    /// An array of strings, each a regular expression ``ToolPolicy`` compiles.
    func patterns(_ table: TOMLTable, _ path: String) throws(ConfigError) -> [String] {
        let list = try strings(table, path)
        for pattern in list {
            do { _ = try ToolPolicy.compile(pattern) } catch { throw self.error(path, error.message) }
        }
        return list
    }

    /// `[tools]`: `timeout` and `max_output` first (they are the defaults of the tools that
    /// follow, whatever the order of the keys), then one user tool per sub-table.
    func readTools(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        var toolNames: [String] = []
        for key in table.keys {
            let path = "tools.\(key)"
            switch key {
            case "timeout": config.tools.timeout = try toolTimeout(table, path)
            case "max_output": config.tools.maxOutput = try toolOutput(table, path)
            default:
                guard table[key]?.table != nil else {
                    throw error(path, "unknown key (known: timeout, max_output, and a table [tools.NAME] per tool)")
                }
                toolNames.append(key)
            }
        }
        for name in toolNames {
            let path = "tools.\(name)"
            guard !ToolCatalog.builtinNames.contains(name) else {
                throw error(path, "\(name) is built in and cannot be redefined (built in: \(ToolCatalog.builtinNames.joined(separator: ", ")))")
            }
            guard (1...64).contains(name.count),
                  name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }) else {
                throw error(path, "a tool name is 1–64 of a-z 0-9 _ -")
            }
            config.tools.userTools[name] = try userTool(name, try self.table(table, name, path: path), settings: config.tools)
        }
    }

    func toolTimeout(_ table: TOMLTable, _ path: String) throws(ConfigError) -> Double {
        let seconds = try duration(table, path)
        guard seconds <= Self.maxToolTimeout else { throw error(path, "must be at most 86400 seconds (\"1d\")") }
        return seconds
    }

    func toolOutput(_ table: TOMLTable, _ path: String) throws(ConfigError) -> Int {
        guard let bytes = table[String(path.split(separator: ".").last!)]?.int, (1...Self.maxToolOutput).contains(bytes) else {
            throw error(path, "must be a whole number of bytes, 1 to \(Self.maxToolOutput) (16 MiB)")
        }
        return bytes
    }

    /// One `[tools.NAME]`: a program the model may run, with its arguments' schema.
    func userTool(_ name: String, _ table: TOMLTable, settings: ToolSettings) throws(ConfigError) -> ToolDefinition {
        let path = "tools.\(name)"
        var description: String?
        var parameters = #"{"properties":{},"type":"object"}"#
        var command: [String]?
        var timeout = settings.timeout
        var maxOutput = settings.maxOutput
        for key in table.keys {
            let keyPath = "\(path).\(key)"
            switch key {
            case "description":
                let text = try string(table, keyPath)
                guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error(keyPath, "must say what the tool does") }
                description = text
            case "parameters": parameters = try schema(try self.table(table, key, path: keyPath), keyPath)
            case "command":
                let argv = try strings(table, keyPath)
                guard let program = argv.first, !program.isEmpty else { throw error(keyPath, "must name a program") }
                command = argv
            case "timeout": timeout = try toolTimeout(table, keyPath)
            case "max_output": maxOutput = try toolOutput(table, keyPath)
            default: throw error(keyPath, "unknown key (known: \(Self.toolKeys))")
            }
        }
        guard let description else { throw error(path, "missing 'description' (what the tool does, for the model)") }
        guard let command else { throw error(path, "missing 'command' (the program and its arguments, with {name} placeholders)") }
        return ToolDefinition(name: name, description: description, parameters: parameters, kind: .command(command),
                              timeout: timeout, maxOutput: maxOutput)
    }

    /// A `parameters` table as compact JSON with sorted keys, checked: `type` is "object",
    /// each property's `type` (if any) is one ``ToolArguments`` checks, `required` names properties.
    func schema(_ table: TOMLTable, _ path: String) throws(ConfigError) -> String {
        let value = try json(table, path)
        guard let object = value.object, object["type"] == .string("object") else {
            throw error("\(path).type", "must be \"object\" (a tool takes a JSON object of arguments)")
        }
        let properties: [String: JSONValue]
        switch object["properties"] {
        case nil: properties = [:]
        case .object(let members)?: properties = members
        default: throw error("\(path).properties", "must be a table of the arguments")
        }
        let types = ["string", "integer", "number", "boolean", "array", "object"]
        for name in properties.keys.sorted() {
            let propertyPath = "\(path).properties.\(name)"
            guard let property = properties[name]?.object else { throw error(propertyPath, "must be a table (a JSON schema)") }
            if let type = property["type"], !types.contains(where: { type == .string($0) }) {
                throw error("\(propertyPath).type", "must be one of \(types.joined(separator: ", "))")
            }
        }
        if let required = object["required"] {
            guard case .array(let names) = required else { throw error("\(path).required", "must be an array of argument names") }
            for name in names {
                guard case .string(let text) = name, properties[text] != nil else {
                    throw error("\(path).required", "\(name.text) is not in properties")
                }
            }
        }
        return value.text
    }

    /// A TOML value as JSON (dates and times have no JSON form).
    func json(_ value: any TOMLValueConvertible, _ path: String) throws(ConfigError) -> JSONValue {
        if let table = value.table {
            var members: [String: JSONValue] = [:]
            for key in table.keys { members[key] = try json(table[key]!, "\(path).\(key)") }
            return .object(members)
        }
        if let array = value.array {
            var values: [JSONValue] = []
            for element in array { values.append(try json(element, path)) }
            return .array(values)
        }
        if let text = value.string { return .string(text) }
        if let bool = value.bool { return .bool(bool) }
        if let int = value.int { return .int(int) }
        if let double = value.double, double.isFinite { return .double(double) }
        throw error(path, "has no JSON form (dates, times, inf and nan are not JSON)")
    }
}
