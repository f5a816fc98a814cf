import ArgumentParser
import Foundation

/// `aifs status [MOUNTPOINT]`: the daemon's `ctl` and one line per socket.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon and its sockets.")

    @Argument(help: "The mountpoint (default /ai).")
    var mountpoint: String = "/ai"

    func run() throws {
        let path = RuntimePaths.absolute(mountpoint)
        if MountTable.isStale(path) { throw CLIError("\(path): stale mount (daemon gone); run 'aifs mount \(path)' to clear it") }
        guard MountTable.isAIFS(path) else { throw CLIError("aifs is not mounted at \(path)") }
        print(try String(contentsOfFile: path + "/ctl", encoding: .utf8), terminator: "")
        let reserved: Set<String> = ["ctl", "models", "memory", "snapshots", "team-chat-all"]
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !reserved.contains($0) }.sorted()
        guard !names.isEmpty else { return }
        print("")
        let columns = ["socket", "model", "state", "queued", "in-flight", "tokens-in", "tokens-out"]
        var rows = [columns]
        for name in names {
            guard let text = try? String(contentsOfFile: "\(path)/\(name)/ctl", encoding: .utf8) else { continue }
            var values: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2 { values[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
            }
            rows.append([name] + columns.dropFirst().map { values[$0] ?? "-" })
        }
        let widths = columns.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}
