import Foundation

/// Where the daemon keeps its pid file and (when backgrounded) its log, per mountpoint:
/// `/run/aifs` for root, else `$XDG_RUNTIME_DIR/aifs`, else `/tmp/aifs-UID`.
enum RuntimePaths {
    static var directory: String {
        if getuid() == 0 { return "/run/aifs" }
        if let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/aifs" }
        return "/tmp/aifs-\(getuid())"
    }

    static func key(for mountpoint: String) -> String {
        mountpoint.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
    }

    static func pidFile(for mountpoint: String) -> String { "\(directory)/\(key(for: mountpoint)).pid" }
    static func logFile(for mountpoint: String) -> String { "\(directory)/\(key(for: mountpoint)).log" }

    static func ensureDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    static func readPID(for mountpoint: String) -> Int32? {
        guard let text = try? String(contentsOfFile: pidFile(for: mountpoint), encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// True if `pid` runs (a zombie left for a parent that never reaps does not count).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    /// Absolute, normalised path (symlinks not resolved: the mountpoint may be stale).
    static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        var result = url.standardizedFileURL.path
        if result.count > 1, result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
