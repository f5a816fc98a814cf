import Foundation
import Subprocess
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A model that is a program: `command = ["llm", "-m", "{model}"]`.
///
/// Each request runs the command once (`{model}` replaced by the part of the model id after
/// `NAME/`), writes the conversation to its standard input and streams its standard output
/// into `output` as it arrives. Lines on standard error go to the socket's `error`; a non-zero
/// exit (or a signal) fails the request with its last stderr line. `cancel`, `reset`, `rmdir`,
/// a timeout or shutdown cancel the task, and the child is killed (swift-subprocess's teardown).
/// When the program ends, whatever it left running in its process group is killed too.
///
/// Standard input, `text` (the default): the new message alone when it is the whole
/// conversation; otherwise the conversation as blocks `System:`/`User:`/`Assistant:` separated
/// by blank lines, ending with the new message. `json`: one JSON object per line,
/// `{"role": "system"|"user"|"assistant", "content": "…"}`, the new message last.
public struct ExecProvider: Provider {
    public enum InputFormat: String, Sendable { case text, json }

    public var command: [String]
    public var inputFormat: InputFormat

    public init(command: [String], inputFormat: InputFormat = .text) {
        self.command = command
        self.inputFormat = inputFormat
    }

    public func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
        let argv = command.map { $0.replacingOccurrences(of: "{model}", with: request.model) }
        guard let program = argv.first, !program.isEmpty else { throw ProviderError("exec: empty command") }
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let tools = !request.tools.isEmpty
        let stdin = tools ? ExecToolProtocol.standardInput(for: request) : Self.standardInput(for: request, format: inputFormat)
        let lines = tools ? ExecToolLines(sink) : nil
        let sink: any ReplySink = lines ?? sink
        let stderrTail = StderrCollector(sink: sink, program: program)
        // The child leads a session of its own, so a teardown reaches its children too
        // (`sh -c 'a | b'`); SIGTERM first, SIGKILL 0.5 s later.
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(500))]
        let result: ExecutionResult<Void, SequenceOutput, SequenceOutput>
        let leader = Mutex<pid_t>(0)
        defer {
            // What the program left running in its group is ended and reaped (the daemon is a
            // subreaper, see ToolRunner, so the orphans are its children).
            let group = leader.withLock { $0 }
            if group > 0, kill(-group, SIGKILL) == 0 { Task.detached { await ToolRunner.reapOrphans(ofGroup: group) } }
        }
        do {
            Self.ignoreBrokenPipes
            result = try await run(
                Subprocess.Configuration(executable: executable, arguments: Arguments(Array(argv.dropFirst())), environment: .inherit,
                              platformOptions: options),
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                let group = execution.processIdentifier.value
                leader.withLock { $0 = group }
                try await withTaskCancellationHandler {
                    try await Self.pump(execution, stdin: stdin, into: sink, stderr: stderrTail)
                } onCancel: {
                    // Do not wait for the library's teardown to notice: end the whole group now.
                    kill(-group, SIGKILL)
                }
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try Task.checkCancellation()
            throw ProviderError("exec \(program): \(error)")
        }
        stderrTail.finish()
        lines?.finish()
        try Task.checkCancellation()
        guard result.terminationStatus.isSuccess else {
            let reason = stderrTail.lastLine.map { ": \($0)" } ?? ""
            switch result.terminationStatus {
            case .exited(let code): throw ProviderError("exec \(program): exit status \(code)\(reason)")
            case .signaled(let signal): throw ProviderError("exec \(program): killed by signal \(signal)\(reason)")
            }
        }
    }

    /// A program that exits without reading its input must not kill the daemon with SIGPIPE:
    /// the write fails with EPIPE instead (set once, for the whole process).
    static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Writes standard input (a program may stop reading early: that is not an error), streams
    /// standard output to the sink and standard error to the collector, until all end.
    private static func pump(_ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>, stdin: [UInt8],
                             into sink: any ReplySink, stderr: StderrCollector) async throws {
        let writer = execution.standardInputWriter
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try? await writer.write(stdin)
                _ = try? await writer.finish()
            }
            group.addTask {
                for try await buffer in execution.standardOutput {
                    let bytes = buffer.withUnsafeBytes { Array($0) }
                    sink.text(bytes)
                }
            }
            group.addTask {
                for try await buffer in execution.standardError {
                    stderr.add(buffer.withUnsafeBytes { Array($0) })
                }
            }
            try await group.waitForAll()
        }
    }

    /// What the program reads on standard input.
    static func standardInput(for request: ProviderRequest, format: InputFormat) -> [UInt8] {
        let system = String(decoding: request.systemPrompt, as: UTF8.self)
        switch format {
        case .json:
            var lines: [[String: String]] = []
            if !system.isEmpty { lines.append(["role": "system", "content": system]) }
            for turn in request.turns {
                lines.append(["role": turn.role.rawValue, "content": String(decoding: turn.content, as: UTF8.self)])
            }
            return lines.flatMap { object -> [UInt8] in
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
                return Array(data) + [0x0A]
            }
        case .text:
            if system.isEmpty, request.history.isEmpty { return request.message }
            var blocks: [String] = []
            if !system.isEmpty { blocks.append("System: " + system.trimmingCharacters(in: .newlines)) }
            for turn in request.turns {
                let label = turn.role == .user ? "User: " : "Assistant: "
                blocks.append(label + String(decoding: turn.content, as: UTF8.self).trimmingCharacters(in: .newlines))
            }
            return Array((blocks.joined(separator: "\n\n") + "\n").utf8)
        }
    }
}

/// Splits a program's standard error into lines, reports each to the socket's `error`, and
/// remembers the last one for the failure message.
final class StderrCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var last: String?
    private let sink: any ReplySink
    private let program: String

    init(sink: any ReplySink, program: String) {
        self.sink = sink
        self.program = program
    }

    func add(_ bytes: [UInt8]) {
        let lines: [String] = lock.withLock {
            pending.append(contentsOf: bytes)
            var lines: [String] = []
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
            return lines
        }
        lines.forEach(report)
    }

    func finish() {
        let rest: [UInt8] = lock.withLock { defer { pending = [] }; return pending }
        if !rest.isEmpty { report(String(decoding: rest, as: UTF8.self)) }
    }

    var lastLine: String? { lock.withLock { last } }

    private func report(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return }
        lock.withLock { last = trimmed }
        sink.diagnostic(kind: "exec", "\(program): \(trimmed)")
    }
}
