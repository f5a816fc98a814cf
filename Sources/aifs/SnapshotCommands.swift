import ArgumentParser
import Foundation

/// `aifs snapshot [NAME]`, `aifs snapshots`, `aifs restore NAME`: thin wrappers over the files
/// (`mkdir /ai/snapshots/NAME`, `ls /ai/snapshots`, `echo "restore NAME" > /ai/ctl`).
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Take a snapshot of every socket (mkdir MOUNTPOINT/snapshots/NAME).")

    @Argument(help: "The snapshot's name (default: manual-TIME).")
    var name: String?

    @Option(name: .shortAndLong, help: "The mountpoint.")
    var mountpoint: String = "/ai"

    func run() throws {
        let path = try SnapshotFiles.mounted(mountpoint)
        if let name {
            guard mkdir(path + "/snapshots/" + name, 0o755) == 0 else {
                throw CLIError("snapshot \(name): \(String(cString: strerror(errno)))")
            }
            print(name)
        } else {
            let before = Set(try SnapshotFiles.names(path))
            try SnapshotFiles.writeControl(path, "snapshot")
            print(try SnapshotFiles.names(path).filter { !before.contains($0) }.joined(separator: "\n"))
        }
    }
}

struct SnapshotsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshots", abstract: "List the snapshots, oldest first.")

    @Option(name: .shortAndLong, help: "The mountpoint.")
    var mountpoint: String = "/ai"

    func run() throws {
        let path = try SnapshotFiles.mounted(mountpoint)
        var rows = [["name", "created", "trigger", "sockets"]]
        for name in try SnapshotFiles.names(path) {
            guard let data = FileManager.default.contents(atPath: "\(path)/snapshots/\(name)/metadata.json"),
                  let meta = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            rows.append([name, meta["created_at"] as? String ?? "-", meta["trigger"] as? String ?? "-",
                         "\((meta["sockets"] as? [Any])?.count ?? 0)"])
        }
        rows[1...].sort { $0[1] < $1[1] }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore every socket, or one, from a snapshot (a before-restore snapshot is taken first).")

    @Argument(help: "The snapshot's name.")
    var name: String

    @Option(name: .shortAndLong, help: "Restore only this socket.")
    var socket: String?

    @Option(name: .shortAndLong, help: "The mountpoint.")
    var mountpoint: String = "/ai"

    func run() throws {
        let path = try SnapshotFiles.mounted(mountpoint)
        if let socket {
            try SnapshotFiles.write("\(path)/\(socket)/ctl", "restore \(name)\n", errorFile: "\(path)/\(socket)/error")
        } else {
            try SnapshotFiles.writeControl(path, "restore \(name)")
        }
        print("aifs: restored \(socket ?? "every socket") from \(name)")
    }
}

/// What the three commands share: finding the mount and writing a ctl line.
enum SnapshotFiles {
    static func mounted(_ mountpoint: String) throws -> String {
        let path = RuntimePaths.absolute(mountpoint)
        guard MountTable.isAIFS(path) else { throw CLIError("aifs is not mounted at \(path)") }
        return path
    }

    static func names(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path + "/snapshots").sorted()
    }

    static func writeControl(_ path: String, _ line: String) throws {
        do {
            try write(path + "/ctl", line + "\n", errorFile: nil)
        } catch {
            let status = (try? String(contentsOfFile: path + "/ctl", encoding: .utf8)) ?? ""
            let reason = status.split(separator: "\n").last { $0.hasPrefix("error: ") }.map { $0.dropFirst(7).split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
            throw CLIError(reason ?? "\(error)")
        }
    }

    /// Writes `text` in one write and closes; a refusal becomes an error with its reason.
    /// `O_TRUNC`: a `prompt` is replaced, not overwritten in place (on `ctl` it means nothing).
    static func write(_ file: String, _ text: String, errorFile: String?) throws {
        let fd = open(file, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw CLIError("\(file): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let writeErrno = errno
        let closed = close(fd)
        let closeErrno = errno
        if written < 0 || closed != 0 {
            let reason = errorFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?
                .split(separator: "\n").last.map { $0.split(separator: " ", maxSplits: 2).last.map(String.init) ?? "" }
            throw CLIError(reason ?? String(cString: strerror(written < 0 ? writeErrno : closeErrno)))
        }
    }
}
