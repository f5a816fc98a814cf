import Foundation
import Subprocess
#if canImport(Glibc)
import Glibc
#endif
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What to run and how: a program the daemon runs on a user's behalf, as that user.
public struct ToolInvocation: Sendable, Equatable {
    /// The program (a path, or a name looked up in `environment["PATH"]`) and its arguments.
    public var argv: [String]
    /// Written to standard input, which is then closed. A program that does not read it is
    /// fine: the write fails quietly (EPIPE), the daemon is not killed by SIGPIPE.
    public var stdin: [UInt8]
    public var uid: UInt32
    public var gid: UInt32
    /// The directory the program starts in, entered as `uid` (never as root).
    public var workdir: String
    /// The child's whole environment: nothing is inherited from the daemon.
    public var environment: [String: String]
    /// Seconds; past it the whole process group is killed (SIGKILL) and the status is `.timedOut`.
    public var timeout: Double
    /// Bytes of output kept; the rest is read, counted and thrown away.
    public var maxOutput: Int

    public init(argv: [String], stdin: [UInt8] = [], uid: UInt32, gid: UInt32, workdir: String,
                environment: [String: String], timeout: Double, maxOutput: Int) {
        self.argv = argv
        self.stdin = stdin
        self.uid = uid
        self.gid = gid
        self.workdir = workdir
        self.environment = environment
        self.timeout = timeout
        self.maxOutput = maxOutput
    }
}

/// How a tool's program ended.
public enum ToolExit: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it (also what a cancelled run reports: `.signaled(SIGKILL)`).
    case signaled(Int32)
    /// The runner killed it at the timeout.
    case timedOut
}

/// What a program did: how it ended and what it wrote.
public struct ToolRunResult: Sendable, Equatable {
    public var status: ToolExit
    /// Standard output and standard error merged, in the order they arrived, at most maxOutput bytes.
    public var output: [UInt8]
    /// Total bytes the program wrote (stdout + stderr); > output.count when output was cut.
    public var totalBytes: Int
    public var truncated: Bool { totalBytes > output.count }

    public init(status: ToolExit, output: [UInt8], totalBytes: Int) {
        self.status = status
        self.output = output
        self.totalBytes = totalBytes
    }
}

/// Why a program could not be started at all (the reason is user-facing, one line).
public struct ToolRunError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) { self.message = message }
}

/// The one runner for programs run on a user's behalf (tools): the daemon runs as root, the
/// program runs as the socket's owner, in a session of its own, with an environment that
/// holds none of the daemon's variables.
///
/// How a run goes:
/// - `/bin/sh` starts as the user (`setpriv` sets groups, gid and uid after `setsid`) in
///   `/`, with an empty environment. It runs a trampoline (`ToolRunner+Process.swift`) that
///   enters `workdir` and looks the program up, both as the user — swift-subprocess would
///   `chdir` before dropping privileges, so a directory only root may enter would be entered.
///   It writes one status line to standard output (stripped, never part of the output), then
///   `exec`s `/usr/bin/env -i` with the invocation's environment, which `exec`s the program.
///   The program keeps the shell's pid, so it leads the session and its process group.
/// - Standard output and standard error are read concurrently and merged as they arrive.
/// - At the timeout, on cancellation, and when the program itself has exited, the whole
///   group gets SIGKILL, so a `sleep 100 &` it left behind neither survives nor keeps the run
///   waiting. The group is killed before swift-subprocess reaps the program, while its pid
///   (the group's id) cannot be reused.
/// - The daemon is a child subreaper (``adoptOrphans()``, at start), so what the group left is
///   reparented to it and reaped here (`waitid(P_PGID)`), not left as zombies when PID 1 does
///   not reap.
///
/// Nothing here blocks a cooperative thread: I/O is swift-subprocess's async API, and the two
/// blocking waits (for the program's exit when it closed its output early, and for the group's
/// orphans) run on threads of their own.
public enum ToolRunner {
    /// Runs the invocation to its end and returns how it ended and what it wrote.
    ///
    /// - Throws: `ToolRunError` when the program could not be started: an empty `argv`, a uid
    ///   the daemon cannot become ("cannot run as uid N: the daemon is not root"), a missing or
    ///   unenterable working directory ("working directory /x: No such file or directory"), a
    ///   program that cannot be found or executed ("cannot run 'prog': No such file or
    ///   directory"), or a failed spawn. Once the program runs, nothing is thrown: a
    ///   cancelled run returns `.signaled(SIGKILL)` with what was read.
    public static func run(_ invocation: ToolInvocation) async throws(ToolRunError) -> ToolRunResult {
        guard let program = invocation.argv.first, !program.isEmpty else {
            throw ToolRunError("cannot run an empty command")
        }
        if program.contains("=") {
            throw ToolRunError("cannot run '\(program)': a program's name may not contain '='")
        }
        let (options, identity) = try platformOptions(uid: invocation.uid, gid: invocation.gid)
        try checkDirectory(invocation.workdir)
        ExecProvider.ignoreBrokenPipes

        let collector = OutputCollector(limit: invocation.maxOutput)
        let state = RunState()
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(identity.isEmpty ? "/bin/sh" : Self.setpriv)),
            arguments: Arguments(identity.isEmpty ? trampolineArguments(invocation) : identity + ["--", "/bin/sh"] + trampolineArguments(invocation)),
            environment: .custom([:]),
            workingDirectory: FilePath("/"),
            platformOptions: options)
        var termination: TerminationStatus?
        do {
            let result = try await Subprocess.run(configuration, input: .inputWriter, output: .sequence, error: .sequence) {
                execution in
                let group = execution.processIdentifier.value
                state.started(group)
                await withTaskCancellationHandler {
                    await pump(execution, invocation: invocation, into: collector, state: state)
                } onCancel: {
                    state.cancel()
                }
                // The program has exited: end whatever it left in its group, before it is reaped.
                kill(-group, SIGKILL)
            }
            termination = result.terminationStatus
        } catch {
            // A spawn failure (nothing started), or a run torn down by cancellation.
            if let group = state.group {
                kill(-group, SIGKILL)
            } else if !Task.isCancelled {
                throw ToolRunError("cannot run '\(program)': \(spawnFailure(error))")
            }
        }
        if let group = state.group { await reapOrphans(ofGroup: group) }
        if let failure = collector.trampolineFailure {
            throw ToolRunError(failure.message(program: program, workdir: invocation.workdir))
        }
        let (output, total) = collector.result
        let status: ToolExit
        if state.timedOut {
            status = .timedOut
        } else {
            // Cancelled: the group was killed (and a run torn down has no status to tell).
            switch termination {
            case .exited(let code)?: status = .exited(code)
            case .signaled(let signal)?: status = .signaled(signal)
            case nil: status = .signaled(SIGKILL)
            }
        }
        return ToolRunResult(status: status, output: output, totalBytes: total)
    }

    /// Writes standard input, reads both outputs to their end, and waits for the program's exit
    /// (it may have closed its output early); the timer kills the group at the timeout.
    private static func pump(_ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>,
                             invocation: ToolInvocation, into collector: OutputCollector, state: RunState) async {
        let pid = execution.processIdentifier.value
        let writer = execution.standardInputWriter
        let stdin = invocation.stdin
        let timeout = invocation.timeout
        await withTaskGroup(of: Void.self) { helpers in
            helpers.addTask {
                if !stdin.isEmpty { _ = try? await writer.write(stdin) }
                _ = try? await writer.finish()
            }
            helpers.addTask {
                let nanoseconds = timeout > 0 ? min(timeout, 1e9) * 1e9 : 0
                guard (try? await Task.sleep(nanoseconds: UInt64(nanoseconds))) != nil else { return }
                state.timeOut()
            }
            await withTaskGroup(of: Void.self) { readers in
                readers.addTask {
                    do {
                        for try await buffer in execution.standardOutput {
                            collector.add(buffer.withUnsafeBytes { Array($0) }, fromStandardOutput: true)
                            // A child it left may write for ever once swift-subprocess drains.
                            if hasExited(pid) { kill(-pid, SIGKILL) }
                        }
                    } catch {}
                }
                readers.addTask {
                    do {
                        for try await buffer in execution.standardError {
                            collector.add(buffer.withUnsafeBytes { Array($0) }, fromStandardOutput: false)
                            if hasExited(pid) { kill(-pid, SIGKILL) }
                        }
                    } catch {}
                }
            }
            if !hasExited(pid) { await waitForExit(pid) }
            helpers.cancelAll()
        }
    }

    /// util-linux's `setpriv`, which changes the user before the trampoline starts.
    static let setpriv = "/usr/bin/setpriv"

    /// The options that make the child lead a session of its own, and the `setpriv` arguments
    /// that make it run as `uid`/`gid` with the account's groups (none: it stays the daemon's user).
    ///
    /// The user is changed by `setpriv` in the child, not by swift-subprocess's `userID`,
    /// `groupID` and `supplementaryGroups`: those call glibc's `setgroups`/`setgid` in a child it
    /// forks itself, where glibc still believes the daemon's other threads exist and waits
    /// forever for them to change their ids too (seen: the child hung in `__nptl_setxid`).
    ///
    /// - Throws: `ToolRunError` when `uid` is not the daemon's and the daemon is not root.
    static func platformOptions(uid: UInt32, gid: UInt32) throws(ToolRunError) -> (PlatformOptions, [String]) {
        var options = PlatformOptions()
        options.createSession = true
        // Cancellation already killed the group (RunState.cancel); the teardown is a backstop.
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(100))]
        let euid = geteuid()
        if euid == uid { return (options, []) }
        guard euid == 0 else { throw ToolRunError("cannot run as uid \(uid): the daemon is not root") }
        let groups = groups(uid: uid, gid: gid)
        return (options, ["--reuid=\(uid)", "--regid=\(gid)",
                          groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map(String.init).joined(separator: ",")])
    }

    /// Fails unless `path` names a directory (as the daemon sees it; the trampoline then checks
    /// that the user may enter it).
    static func checkDirectory(_ path: String) throws(ToolRunError) {
        var info = stat()
        if stat(path, &info) != 0 {
            throw ToolRunError("working directory \(path): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            throw ToolRunError("working directory \(path): \(String(cString: strerror(ENOTDIR)))")
        }
    }

    /// A spawn failure in one line: the errno's text when there is one.
    private static func spawnFailure(_ error: any Error) -> String {
        if let failure = error as? SubprocessError, let errno = failure.underlyingError {
            return String(cString: strerror(errno.rawValue))
        }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "cannot start"
    }
}
