import AIFSCore
import ArgumentParser
import Foundation

/// `aifs status [MOUNTPOINT] [--json]`: one line about the daemon (from `/ai/ctl`), with the Redis
/// backend a table of the namespace's daemons (from `/ai/cluster`), then a compact table of the
/// sockets (from each socket's `ctl`); `--json` prints everything they report as one object:
/// `{"mountpoint", "daemon": {…}, "cluster": [{…}], "sockets": [{…}]}`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon and its sockets.")

    @Argument(help: "The mountpoint (default /ai).")
    var mountpoint: String = "/ai"

    @Flag(help: "Print everything the daemon's and the sockets' ctl files report, as JSON.")
    var json = false

    func run() throws {
        let path = RuntimePaths.absolute(mountpoint)
        if MountTable.isStale(path) { throw CLIError("\(path): stale mount (daemon gone); run 'aifs mount \(path)' to clear it") }
        guard MountTable.isAIFS(path) else { throw CLIError("aifs is not mounted at \(path)") }
        let daemon = CtlText(try String(contentsOfFile: path + "/ctl", encoding: .utf8))
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !SocketName.reserved.contains($0) }.sorted()
        // A socket removed between the listing and the read is left out.
        let sockets: [(name: String, ctl: CtlText)] = names.compactMap { name in
            (try? String(contentsOfFile: "\(path)/\(name)/ctl", encoding: .utf8)).map { (name, CtlText($0)) }
        }
        // One JSON object per line; an older daemon without the file has no cluster to show.
        let cluster: [[String: Any]] = ((try? String(contentsOfFile: path + "/cluster", encoding: .utf8)) ?? "")
            .split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
        if json {
            let object: [String: Any] = [
                "mountpoint": path,
                "daemon": daemon.jsonObject,
                "cluster": cluster,
                "sockets": sockets.map { socket in
                    var entry = socket.ctl.jsonObject
                    entry["name"] = socket.name
                    return entry
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(Self.summary(daemon, mountpoint: path))
        if let table = Self.clusterTable(cluster) { print(table) }
        guard !sockets.isEmpty else { return }
        var rows = [["socket", "model", "state", "queued", "in-flight", "tokens"]]
        for (name, ctl) in sockets {
            rows.append([name, ctl["model"] ?? "-", ctl["state"] ?? "-", ctl["queued"] ?? "-", ctl["in-flight"] ?? "-",
                         "\(ctl["tokens-in"] ?? "-")/\(ctl["tokens-out"] ?? "-")"])
        }
        print(Self.table(rows))
    }

    /// `aifs 0.1.0 at /ai: pid 1234, up 42s, 2 sockets, 0 in flight, store /root/.local/share/aifs/aifs.db`
    static func summary(_ daemon: CtlText, mountpoint: String) -> String {
        var parts: [String] = []
        if let pid = daemon["pid"] { parts.append("pid \(pid)") }
        if let uptime = daemon["uptime"] { parts.append("up \(uptime)") }
        if let sockets = daemon["sockets"] { parts.append("\(sockets) socket\(sockets == "1" ? "" : "s")") }
        if let inFlight = daemon["in-flight"] { parts.append("\(inFlight) in flight") }
        if let store = daemon["store"] { parts.append("store \(store)") }
        return "aifs \(daemon["version"] ?? "?") at \(mountpoint): " + parts.joined(separator: ", ")
    }

    /// The daemons of a Redis namespace, this one marked `*`; nil for a single daemon (no log position).
    static func clusterTable(_ members: [[String: Any]]) -> String? {
        guard members.contains(where: { $0["position"] is String }) else { return nil }
        var rows = [["daemon", "host", "pid", "version", "heartbeat", "sockets", "position", "lag"]]
        for m in members {
            func text(_ key: String) -> String { m[key].map { "\($0)" } ?? "-" }
            let age = (m["heartbeat_age_ms"] as? Int).map { "\($0) ms ago" } ?? "-"
            let lag = (m["lag_ms"] as? Int).map { "\($0) ms" } ?? "-"
            let name = text("id") + ((m["self"] as? Bool) == true ? " *" : "") + ((m["leader"] as? Bool) == true ? " (leader)" : "")
            rows.append([name, text("host"), text("pid"), text("version"), age, text("sockets"), text("position"), lag])
        }
        return table(rows)
    }

    /// Left-aligned columns two spaces apart, no trailing blanks.
    static func table(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n")
    }
}
