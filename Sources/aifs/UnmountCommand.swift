import ArgumentParser
import Foundation

/// `aifs unmount [MOUNTPOINT]`: asks the daemon to stop (SIGTERM) and waits for the mount to go
/// and the daemon to exit (its store closed), up to `--timeout`; clears a stale mount whose
/// daemon is gone.
struct UnmountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unmount", abstract: "Unmount aifs cleanly.")

    @Argument(help: "The mountpoint (default /ai).")
    var mountpoint: String = "/ai"

    @Option(help: "Seconds to wait for the daemon before detaching the mount anyway.")
    var timeout: Double = 15

    func run() throws {
        let path = RuntimePaths.absolute(mountpoint)
        var stoppedDaemon = false
        if let pid = RuntimePaths.readPID(for: path), RuntimePaths.isAlive(pid) {
            kill(pid, SIGTERM)
            stoppedDaemon = true
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if !RuntimePaths.isAlive(pid) || (!MountTable.isAIFS(path) && !MountTable.isStale(path)) { break }
                usleep(20_000)
            }
            // The mount goes first; the daemon then closes its store. Return only once it has
            // exited, so that a script may copy or move the store right after (on a busy
            // machine that can take more than a moment).
            while RuntimePaths.isAlive(pid), Date() < deadline { usleep(20_000) }
            if RuntimePaths.isAlive(pid) {
                FileHandle.standardError.write(Data("aifs: the daemon (pid \(pid)) is still running after \(Int(timeout)) s\n".utf8))
            }
        }
        if MountTable.isAIFS(path) || MountTable.isStale(path) {
            guard MountTable.detach(path) else { throw CLIError("could not unmount \(path)") }
        } else if !stoppedDaemon {
            throw CLIError("nothing is mounted at \(path)")
        }
        try? FileManager.default.removeItem(atPath: RuntimePaths.pidFile(for: path))
        print("aifs: unmounted \(path)")
    }
}
