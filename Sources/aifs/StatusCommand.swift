import ArgumentParser
import Foundation

/// `aifs status [MOUNTPOINT] [--json]`: one line about the daemon (from `/ai/ctl`), then a
/// compact table of the sockets (from each socket's `ctl`); `--json` prints everything both
/// report as one object: `{"mountpoint", "daemon": {…}, "sockets": [{…}]}`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon and its sockets.")

    @Argument(help: "The mountpoint (default /ai).")
    var mountpoint: String = "/ai"

    @Flag(help: "Print everything the daemon's and the sockets' ctl files report, as JSON.")
    var json = false

    static let reserved: Set<String> = ["ctl", "models", "memory", "snapshots", "team-chat-all"]

    func run() throws {
        let path = RuntimePaths.absolute(mountpoint)
        if MountTable.isStale(path) { throw CLIError("\(path): stale mount (daemon gone); run 'aifs mount \(path)' to clear it") }
        guard MountTable.isAIFS(path) else { throw CLIError("aifs is not mounted at \(path)") }
        let daemon = CtlText(try String(contentsOfFile: path + "/ctl", encoding: .utf8))
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !Self.reserved.contains($0) }.sorted()
        // A socket removed between the listing and the read is left out.
        let sockets: [(name: String, ctl: CtlText)] = names.compactMap { name in
            (try? String(contentsOfFile: "\(path)/\(name)/ctl", encoding: .utf8)).map { (name, CtlText($0)) }
        }
        if json {
            let object: [String: Any] = [
                "mountpoint": path,
                "daemon": daemon.jsonObject,
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

    /// Left-aligned columns two spaces apart, no trailing blanks.
    static func table(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n")
    }
}
