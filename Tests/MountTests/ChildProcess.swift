import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for the mounted tests.
///
/// Foundation's `Process` is not used: a child inherits the signal mask of the thread that
/// spawned it, and threads of Swift's pools block most signals, so `timeout 4 tail -f …` would
/// never die; and its SIGCHLD-based reaping can leave a zombie that is never seen to exit. Here
/// the child gets an empty signal mask, default dispositions and its own process group, and it
/// is reaped with a blocking `waitpid` on a dedicated thread.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `argv[0]` (a path) with `argv`, `environment`, stdin from /dev/null and stdout and
    /// stderr to the given descriptors (or to /dev/null when nil).
    /// Serializes making pipes and spawning, so no child inherits a pipe another test is still
    /// setting up (tests run in parallel; a daemon that inherited one would hold it open).
    static let spawnLock = NSLock()

    /// A pipe whose ends are close-on-exec (the child gets its end through dup2 only).
    static func makePipe(_ fds: inout [Int32]) -> Bool {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    init(_ argv: [String], environment: [String: String], stdout: Int32?, stderr: Int32?) throws {
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        if let stderr { posix_spawn_file_actions_adddup2(&actions, stderr, 2) } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw SpawnError(message: "posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
        let child = pid
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            lock.withLock { exitStatus = code }
            exited.signal()
        }
        thread.start()
    }

    struct SpawnError: Error, CustomStringConvertible { var message: String; var description: String { message } }

    var isRunning: Bool { lock.withLock { exitStatus == nil } }

    /// Blocks the calling (dedicated) thread until the child exits or `timeout` passes; nil on timeout.
    func wait(timeout: Double) -> Int32? {
        guard exited.wait(timeout: .now() + timeout) == .success else { return nil }
        exited.signal()
        return lock.withLock { exitStatus }
    }

    /// Signals the child's whole process group.
    func killGroup(_ signal: Int32) { kill(-pid, signal) }
}
