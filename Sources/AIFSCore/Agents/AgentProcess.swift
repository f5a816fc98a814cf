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

/// Runs one life of an agent's sandbox: `setpriv` (to the owner) → `bwrap` → the program, in a
/// session of its own, until it exits or the run is cancelled; then its whole group is killed
/// (SIGKILL) and reaped, as ``ToolRunner`` does for tools. bwrap's `--die-with-parent` and pid
/// namespace end whatever is left inside when bwrap itself goes.
enum AgentProcess {
    /// Lines of its standard error kept per life (into the socket's `error`), and their length.
    static let maxLines = 200
    static let maxLineBytes = 500

    /// Runs the sandbox; `started` gets bwrap's pid (the group), `line` each standard-error
    /// line. Returns how it ended (a cancelled run: `.signaled(SIGKILL)`).
    static func run(_ sandbox: AgentSandbox, started: @escaping @Sendable (pid_t) -> Void,
                    line: @escaping @Sendable (String) -> Void) async throws(ToolRunError) -> ToolExit {
        guard geteuid() == 0 || geteuid() == sandbox.uid else {
            throw ToolRunError("cannot run as uid \(sandbox.uid): the daemon is not root")
        }
        // bwrap itself runs as the daemon's user; the sandbox becomes the owner (AgentSandbox).
        let (options, _) = try ToolRunner.platformOptions(uid: geteuid(), gid: getegid())
        ExecProvider.ignoreBrokenPipes
        let executable = AgentSandbox.bwrap
        let arguments = sandbox.arguments
        let configuration = Subprocess.Configuration(
            executable: .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom([:]),
            workingDirectory: FilePath("/"), platformOptions: options)
        let state = RunState()
        var termination: TerminationStatus?
        do {
            let result = try await Subprocess.run(configuration, input: .none, output: .discarded, error: .sequence) { execution in
                let group = execution.processIdentifier.value
                state.started(group)
                started(group)
                await withTaskCancellationHandler {
                    await withTaskGroup(of: Void.self) { tasks in
                        tasks.addTask {
                            var pending: [UInt8] = []
                            var count = 0
                            func emit(_ bytes: ArraySlice<UInt8>) {
                                count += 1
                                if count <= maxLines { line(String(decoding: bytes.prefix(maxLineBytes), as: UTF8.self)) }
                                if count == maxLines + 1 { line("(more standard error of this run dropped)") }
                            }
                            do {
                                for try await buffer in execution.standardError {
                                    pending += buffer.withUnsafeBytes { Array($0) }
                                    while let newline = pending.firstIndex(of: 0x0A) {
                                        emit(pending[..<newline])
                                        pending.removeSubrange(...newline)
                                    }
                                    if pending.count > 64 * 1024 { emit(pending[...]); pending = [] }
                                }
                            } catch {}
                            if !pending.isEmpty { emit(pending[...]) }
                        }
                        tasks.addTask {
                            await ToolRunner.waitForExit(group)
                            // The program has ended: nothing of its group outlives it.
                            kill(-group, SIGKILL)
                        }
                    }
                } onCancel: {
                    state.cancel()
                }
            }
            termination = result.terminationStatus
        } catch {
            if let group = state.group {
                kill(-group, SIGKILL)
            } else if !Task.isCancelled {
                throw ToolRunError("cannot start \(executable): \(error)".split(separator: "\n").first.map(String.init) ?? "cannot start")
            }
        }
        if let group = state.group { await ToolRunner.reapOrphans(ofGroup: group) }
        switch termination {
        case .exited(let code)?: return .exited(code)
        case .signaled(let signal)?: return .signaled(signal)
        case nil: return .signaled(SIGKILL)
        }
    }
}
