import Foundation
import Glibc
import Synchronization

/// The write end of the daemon's stop pipe, for the signal handler (which may only call
/// async-signal-safe functions: an atomic load and `write`).
private let stopPipeWrite = Atomic<Int32>(-1)

/// SIGTERM, SIGINT and SIGHUP, caught from the daemon's first moment: each handler writes one
/// byte to a pipe, and a thread of its own calls the stop it was given at the first byte.
///
/// Why not swift-service-lifecycle's signal handling: it installs its handlers when the service
/// group starts running, after the mount answers and the pid file exists. A SIGTERM from
/// `aifs unmount` in between (the test suite saw it on a loaded machine) met the default action
/// and ended the process at once, its store not closed (the `-wal` left beside the file). With
/// the handlers installed before anything else, a stop asked at any moment is kept in the pipe
/// until the daemon can act on it, and the daemon always ends through its clean stop.
enum StopSignals {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    private static let readEnd = Mutex<Int32>(-1)

    /// Installs the handlers (once; the pipe is close-on-exec, so children do not inherit it,
    /// and `exec` resets their dispositions).
    static func install() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        readEnd.withLock { $0 = fds[0] }
        stopPipeWrite.store(fds[1], ordering: .relaxed)
        for signal in handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                var byte: UInt8 = 1
                _ = Glibc.write(stopPipeWrite.load(ordering: .relaxed), &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
    }

    /// Calls `stop` once, on a thread of its own, when the first signal arrives (at once if one
    /// came before this call). Without ``install()`` it never calls.
    static func onFirst(_ stop: @escaping @Sendable () -> Void) {
        let fd = readEnd.withLock { $0 }
        guard fd >= 0 else { return }
        Thread {
            var byte: UInt8 = 0
            while Glibc.read(fd, &byte, 1) < 0 && errno == EINTR {}
            stop()
        }.start()
    }
}
