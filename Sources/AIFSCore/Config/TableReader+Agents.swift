import Foundation
import TOMLKit
import FuseKit

/// `[agents.NAME]`: one sandboxed agent program each (see ``AgentConfig`` and `docs/agents.md`).
extension TableReader {
    mutating func readAgents(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for name in table.keys {
            let path = "agents.\(name)"
            guard SocketName.problem(with: FileName(name)) == nil else {
                throw error(path, "an agent's name must be a valid socket name")
            }
            config.agents[name] = try agent(name, try self.table(table, name, path: path))
        }
    }

    func agent(_ name: String, _ table: TOMLTable) throws(ConfigError) -> AgentConfig {
        let known = "command, model, description, capabilities, network_allow, network_rate, network_max_bytes, "
            + "network_timeout, sockets, ro_bind, environment"
        var agent = AgentConfig(name: name, command: [])
        for key in table.keys {
            let path = "agents.\(name).\(key)"
            switch key {
            case "command":
                agent.command = try strings(table, path)
                guard !agent.command.isEmpty, !agent.command[0].isEmpty else { throw error(path, "must name a program") }
            case "model": agent.model = try string(table, path)
            case "description": agent.description = try string(table, path)
            case "capabilities":
                if let text = table[key]?.string {
                    agent.capabilities = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                } else {
                    agent.capabilities = try strings(table, path)
                }
            case "network_allow":
                agent.networkAllow = []
                for entry in try strings(table, path) {
                    guard let rule = NetworkRule(entry) else {
                        throw error(path, "'\(entry)' is not [METHODS ]http(s)://HOST[:PORT] or *")
                    }
                    agent.networkAllow.append(rule)
                }
            case "network_rate":
                let value = table[key]
                if let count = value?.int, count > 0 {
                    agent.networkRate = count
                    agent.networkPeriod = 1
                } else if let text = value?.string, let (count, period) = Self.rate(text) {
                    agent.networkRate = count
                    agent.networkPeriod = period
                } else {
                    throw error(path, "must be requests per second (a whole number), or \"N/s\", \"N/min\", \"N/h\"")
                }
            case "network_max_bytes": agent.networkMaxBytes = try int(table, path, min: 1)
            case "network_timeout": agent.networkTimeout = try duration(table, path)
            case "sockets": agent.sockets = try strings(table, path)
            case "ro_bind":
                agent.readOnlyPaths = try strings(table, path)
                guard agent.readOnlyPaths.allSatisfy({ $0.hasPrefix("/") }) else { throw error(path, "must be absolute paths") }
            case "environment":
                let variables = try self.table(table, key, path: path)
                for variable in variables.keys {
                    guard let value = variables[variable]?.string else { throw error("\(path).\(variable)", "must be a string") }
                    agent.environment[variable] = value
                }
            default:
                throw error(path, "unknown key (known: \(known))")
            }
        }
        guard !agent.command.isEmpty else { throw error("agents.\(name).command", "is required: the program the agent runs") }
        return agent
    }

    /// `"N/s"`, `"N/min"`, `"N/h"`: a count and its period in seconds.
    static func rate(_ text: String) -> (Int, Double)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let count = Int(parts[0].trimmingCharacters(in: .whitespaces)), count > 0 else { return nil }
        switch parts[1].trimmingCharacters(in: .whitespaces) {
        case "s", "sec", "second": return (count, 1)
        case "m", "min", "minute": return (count, 60)
        case "h", "hour": return (count, 3600)
        default: return nil
        }
    }
}
