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
/// the handlers installed before anything else, a stop asked once the mount is being made is
/// kept until the daemon can act on it, and the daemon ends through its clean stop. A stop
/// asked before that (the store loading, a Redis checkpoint being fetched: nothing is mounted
/// and no one is answered yet) ends the process at once, as the default action did.
enum StopSignals {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    private enum Phase {
        case starting
        case mounting(stopAsked: Bool)
        case serving(stop: @Sendable () -> Void)
    }

    private static let phase = Mutex<Phase>(.starting)

    /// Installs the handlers (once; the pipe is close-on-exec, so children do not inherit it,
    /// and `exec` resets their dispositions).
    static func install() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        stopPipeWrite.store(fds[1], ordering: .relaxed)
        let readEnd = fds[0]
        Thread {
            var byte: UInt8 = 0
            while Glibc.read(readEnd, &byte, 1) < 0 && errno == EINTR {}
            stopAsked()
        }.start()
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

    /// The first signal: before ``mounting()`` the process ends now; while mounting it is kept
    /// for ``onFirst(_:)``; once serving, the stop runs.
    private static func stopAsked() {
        let stop = phase.withLock { phase -> (@Sendable () -> Void)? in
            switch phase {
            case .starting:
                return {
                    FileHandle.standardError.write(Data("aifs: stopped by a signal before the mount was made\n".utf8))
                    _exit(143)
                }
            case .mounting:
                phase = .mounting(stopAsked: true)
                return nil
            case .serving(let stop):
                return stop
            }
        }
        stop?()
    }

    /// The mount is about to be made: from now on a stop goes through the clean stop.
    static func mounting() {
        phase.withLock { phase in
            if case .starting = phase { phase = .mounting(stopAsked: false) }
        }
    }

    /// Calls `stop` (on the signal thread) when the first signal arrives, or at once if one came
    /// since ``mounting()``.
    static func onFirst(_ stop: @escaping @Sendable () -> Void) {
        let asked = phase.withLock { phase -> Bool in
            defer { phase = .serving(stop: stop) }
            if case .mounting(let asked) = phase { return asked }
            return false
        }
        if asked { stop() }
    }
}
