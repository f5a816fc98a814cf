import AIFSCore
import ArgumentParser
import Foundation
import FuseKit
import Logging

/// `aifs mount [MOUNTPOINT] [-f] [-o OPTS] [--config FILE]`.
///
/// Without `-f` it starts itself again in the foreground as a new session (log to the runtime
/// directory) and returns only once the mount answers, so `aifs mount && ls /ai` works. A stale
/// mount left by a killed daemon ("Transport endpoint is not connected") is cleared first.
struct MountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount aifs (default /ai) and serve it.")

    @Argument(help: "Where to mount; created if missing.")
    var mountpoint: String = "/ai"

    @Flag(name: .shortAndLong, help: "Stay in the foreground (log to stderr).")
    var foreground = false

    @Option(name: .customShort("o"), help: "Mount options, comma-separated (allow_other, default_permissions, debug…).")
    var options: String?

    @Option(help: "Configuration file (TOML).")
    var config: String?

    @Option(help: ArgumentHelp("The store: a database path, or 'memory' to keep nothing (default $AIFS_STORE_PATH, else $XDG_DATA_HOME/aifs/aifs.db).", valueName: "PATH"))
    var store: String?

    mutating func run() async throws {
        let path = RuntimePaths.absolute(mountpoint)
        try prepareMountpoint(path)
        if foreground {
            let loaded = try loadConfiguration()
            try await Daemon(mountpoint: path, options: mountOptions(), store: storeChoice(loaded.configuration),
                             configuration: loaded, reload: { [config] in
                                 try ConfigLoader().load(explicitFile: config.map(RuntimePaths.absolute))
                             }).run()
        } else {
            let loaded = try loadConfiguration()  // a bad configuration is reported here, before anything starts
            for warning in loaded.warnings { FileHandle.standardError.write(Data("aifs: warning: \(warning)\n".utf8)) }
            try background(path)
        }
    }

    /// The configuration layers (files, `AIFS_*`), then the flags on top.
    func loadConfiguration() throws -> LoadedConfiguration {
        do {
            return try ConfigLoader().load(explicitFile: config.map(RuntimePaths.absolute))
        } catch {
            throw CLIError("configuration: \(error)")
        }
    }

    /// The store: `--store`, else the configuration's (`AIFS_STORE_PATH`, `[store] path`), else
    /// `$XDG_DATA_HOME/aifs/aifs.db`; `memory` keeps nothing.
    func storeChoice(_ configuration: Configuration) -> StoreChoice {
        let path = store ?? configuration.storePath ?? StoreOptions.defaultPath()
        if path == "memory" { return .memory }
        return .database(StoreOptions(path: RuntimePaths.absolute(path), durability: configuration.storeDurability,
                                      retention: configuration.retention, memoryIndexDelay: configuration.memoryIndexDelay,
                                      journalDelay: configuration.journalDelay))
    }

    func mountOptions() -> [String] {
        var opts = ["fsname=aifs", "subtype=aifs"]
        let extra = (options ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        opts += extra
        if extra.contains("allow_other"), !extra.contains("default_permissions") { opts.append("default_permissions") }
        return opts
    }

    /// Clears a stale mount, refuses a live one, creates the directory.
    func prepareMountpoint(_ path: String) throws {
        if MountTable.isStale(path) {
            FileHandle.standardError.write(Data("aifs: clearing stale mount at \(path) (its daemon is gone)\n".utf8))
            guard MountTable.detach(path) else { throw CLIError("could not clear the stale mount at \(path)") }
        }
        if let mount = MountTable.mount(at: path), mount.fstype.hasPrefix("fuse") {
            if let pid = RuntimePaths.readPID(for: path), RuntimePaths.isAlive(pid) {
                throw CLIError("aifs is already mounted at \(path) (pid \(pid)); 'aifs unmount \(path)' first")
            }
            if mount.fstype == "fuse.aifs" {
                // Mounted, but no daemon we know of: treat as stale.
                guard MountTable.detach(path) else { throw CLIError("\(path) is mounted by another process") }
            } else {
                throw CLIError("\(path) is already a \(mount.fstype) mount")
            }
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CLIError("\(path) exists and is not a directory") }
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
    }

    /// Starts `aifs mount -f` as a new session and waits until the mount answers.
    func background(_ path: String) throws {
        try RuntimePaths.ensureDirectory()
        let log = RuntimePaths.logFile(for: path)
        var arguments = ["mount", path, "-f"]
        if let options { arguments += ["-o", options] }
        if let config { arguments += ["--config", RuntimePaths.absolute(config)] }
        if let store { arguments += ["--store", store == "memory" ? store : RuntimePaths.absolute(store)] }
        let pid = try Spawner.spawnDetached(executable: Spawner.selfExecutable(), arguments: arguments, logPath: log)
        let started = Date()
        var progress = WaitProgress(label: "aifs: waiting for the mount at \(path) to answer")
        while true {
            if MountTable.isAIFS(path), FileManager.default.fileExists(atPath: path + "/ctl") {
                progress.finish()
                print("aifs: mounted at \(path) (pid \(pid), log \(log))")
                return
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                progress.finish()
                let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(10).joined(separator: "\n") ?? ""
                throw CLIError("the daemon exited before the mount answered. Last log lines (\(log)):\n\(tail)")
            }
            let waited = Date().timeIntervalSince(started)
            progress.update(waited: waited)
            if waited > 30 {
                progress.finish()
                kill(pid, SIGTERM)
                throw CLIError("the mount did not answer within 30 s; see \(log)")
            }
            usleep(20_000)
        }
    }
}

/// Starting the daemon as a detached child.
enum Spawner {
    static func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// posix_spawn with a new session, stdin from /dev/null, stdout and stderr appended to `logPath`.
    static func spawnDetached(executable: String, arguments: [String], logPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A clean signal mask and default dispositions: a daemon that inherited a blocked
        // SIGTERM would never hear `kill`.
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc)
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw CLIError("could not start \(executable): \(String(cString: strerror(result)))") }
        return pid
    }
}
