import Foundation

/// `/ai/directory`: every socket the reader may see (read permission on its directory), as
/// JSON in the manner of Mind-Swarm's `cybers.json`, so that agents find each other by what
/// they can do. Made at each open from the registry, which every daemon of a Redis namespace
/// holds alike, so it is live and the same everywhere.
///
///     {"sockets": [{"name": "helper", "kind": "agent", "agent": "helper", "model": "agent/helper",
///                   "brain": "echo", "state": "active", "owner": "65534:65534", "owner_name": "nobody",
///                   "description": "…", "capabilities": ["probe"]}, …], "count": 1}
enum AgentDirectory {
    static func text(sockets: [Socket], agents: AgentSupervisor, caller: Caller) -> [UInt8] {
        var entries: [[String: Any]] = []
        for socket in sockets where socket.allows(.read, caller) {
            let info = socket.info
            let agent = socket.agentName
            let config = agent.flatMap(agents.config(named:))
            var entry: [String: Any] = [
                "name": info.name,
                "kind": agent == nil ? "model" : "agent",
                "model": info.model,
                "state": info.state.rawValue,
                "owner": "\(info.uid):\(info.gid)",
                "owner_name": ToolRunner.account(uid: info.uid)?.name ?? "uid\(info.uid)",
                "description": info.settings[.description] ?? config?.description ?? "",
                "capabilities": info.settings[.capabilities].map(Self.list) ?? config?.capabilities ?? [],
            ]
            if let agent { entry["agent"] = agent }
            if let brain = config?.model { entry["brain"] = brain }
            entries.append(entry)
        }
        let document: [String: Any] = ["sockets": entries, "count": entries.count]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
        return Array(data) + [0x0A]
    }

    /// `set capabilities a, b,c` → ["a", "b", "c"].
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
