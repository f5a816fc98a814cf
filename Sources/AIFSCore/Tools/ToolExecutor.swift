import Foundation

/// Runs one checked and permitted tool call: a program as the socket's owner through
/// ``ToolRunner`` (`bash`, `read`, `list`, `write`, a `[tools.NAME]` command), or, for `ask`, a
/// message to another socket whose reply is the result.
///
/// `read`, `list` and `write` run `cat`, `ls` and `sh` as the owner rather than touching files
/// from the daemon (root): the kernel then checks the owner's permissions, exactly as for a
/// program the user runs.
enum ToolExecutor {
    /// What a call came to: `status` for the transcript, `text` for the model, and whether
    /// the model is told it failed.
    struct Outcome {
        var status: String
        var text: String
        var isError: Bool
    }

    /// The largest file `write` keeps the previous content of, for `undo`.
    static let undoLimit = 16 << 20

    static func run(_ tool: ToolDefinition, arguments: [String: any Sendable], json: String, context: ToolContext,
                    callID: String, poster: WorkPoster, environment: SocketEnvironment) async -> Outcome {
        func text(_ key: String) -> String { arguments[key] as? String ?? "" }
        switch tool.kind {
        case .bash:
            return await program(["/bin/bash", "-c", text("command")], tool: tool, context: context, callID: callID)
        case .read:
            return await program(["/bin/cat", "--", text("path")], tool: tool, context: context, callID: callID)
        case .list:
            return await program(["/bin/ls", "-la", "--", text("path")], tool: tool, context: context, callID: callID)
        case .write:
            return await write(text("path"), Array(text("content").utf8), tool: tool, context: context, callID: callID, poster: poster)
        case .ask:
            return await ask(text("socket"), text("message"), timeout: tool.timeout, context: context, environment: environment)
        case .command(let argv):
            let (line, stdin) = ToolArguments.commandLine(argv, arguments: arguments, json: json)
            return await program(line, stdin: stdin, tool: tool, context: context, callID: callID)
        }
    }

    /// The invocation of `argv` for `context`'s owner, with `tool`'s limits.
    static func invocation(_ argv: [String], stdin: [UInt8] = [], uid: UInt32, gid: UInt32, workdir: String, socket: String,
                           callID: String, timeout: Double, maxOutput: Int) -> ToolInvocation {
        var environment = ToolRunner.environment(uid: uid)
        environment["AIFS_SOCKET"] = socket
        environment["AIFS_TOOL_CALL"] = callID
        return ToolInvocation(argv: argv, stdin: stdin, uid: uid, gid: gid, workdir: workdir, environment: environment,
                              timeout: timeout, maxOutput: maxOutput)
    }

    /// Runs a program; its outcome as the model and the transcript see it.
    static func program(_ argv: [String], stdin: [UInt8] = [], tool: ToolDefinition, context: ToolContext,
                        callID: String) async -> Outcome {
        let invocation = invocation(argv, stdin: stdin, uid: context.uid, gid: context.gid, workdir: context.workdir,
                                    socket: context.socket, callID: callID, timeout: tool.timeout, maxOutput: tool.maxOutput)
        let result: ToolRunResult
        do {
            result = try await ToolRunner.run(invocation)
        } catch {
            return Outcome(status: "error", text: error.message, isError: true)
        }
        return outcome(result, tool: tool)
    }

    /// A run's result as an outcome: the output, then what the model must know about how it ended.
    static func outcome(_ result: ToolRunResult, tool: ToolDefinition) -> Outcome {
        var text = String(decoding: result.output, as: UTF8.self)
        func note(_ line: String) {
            if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
            text += line
        }
        if result.truncated {
            note("[output cut at \(result.output.count) of \(result.totalBytes) bytes (max_output \(tool.maxOutput))]")
        }
        switch result.status {
        case .exited(0):
            return Outcome(status: "exit 0", text: text, isError: false)
        case .exited(let code):
            note("[exit status \(code)]")
            return Outcome(status: "exit \(code)", text: text, isError: true)
        case .signaled(let signal):
            note("[killed by signal \(signal)]")
            return Outcome(status: "signal \(signal)", text: text, isError: true)
        case .timedOut:
            note("[killed after \(Int(tool.timeout.rounded(.up))) s with its children (timeout)]")
            return Outcome(status: "timeout", text: text, isError: true)
        }
    }

    /// `path` for a program run in `workdir`, made absolute (what undo records keep).
    static func absolute(_ path: String, in workdir: String) -> String {
        if path.hasPrefix("/") { return path }
        return (workdir.hasSuffix("/") ? workdir : workdir + "/") + path
    }

    /// `write`: keeps what the file held (for `undo ID`), then writes it as the owner.
    static func write(_ path: String, _ content: [UInt8], tool: ToolDefinition, context: ToolContext, callID: String,
                      poster: WorkPoster) async -> Outcome {
        let target = absolute(path, in: context.workdir)
        let before = invocation(["/bin/sh", "-c", "[ -e \"$1\" ] || exit 3; exec cat -- \"$1\"", "sh", target],
                                uid: context.uid, gid: context.gid, workdir: context.workdir, socket: context.socket,
                                callID: callID, timeout: tool.timeout, maxOutput: undoLimit)
        var undoNote = ""
        if let previous = try? await ToolRunner.run(before) {
            switch previous.status {
            case .exited(0) where !previous.truncated:
                poster.tool(.undoSaved(id: callID, path: target, previous: previous.output))
            case .exited(3):
                poster.tool(.undoSaved(id: callID, path: target, previous: nil))
            case .exited(0):
                undoNote = " (no undo: the file was over \(undoLimit >> 20) MiB)"
            default:
                undoNote = " (no undo: the file could not be read)"
            }
        }
        let outcome = await program(["/bin/sh", "-c", "cat > \"$1\"", "sh", target], stdin: content, tool: tool,
                                    context: context, callID: callID)
        guard outcome.status == "exit 0" else { return outcome }
        return Outcome(status: "exit 0", text: "wrote \(content.count) bytes to \(target)\(undoNote)", isError: false)
    }

    /// Puts back what `record` kept, as the owner; nil, or why it could not.
    static func restore(_ record: UndoRecord, uid: UInt32, gid: UInt32, workdir: String) async -> String? {
        let argv = record.previous == nil ? ["/bin/rm", "-f", "--", record.path] : ["/bin/sh", "-c", "cat > \"$1\"", "sh", record.path]
        let run = invocation(argv, stdin: record.previous ?? [], uid: uid, gid: gid, workdir: workdir, socket: "",
                             callID: "", timeout: 60, maxOutput: 4096)
        do {
            let result = try await ToolRunner.run(run)
            guard result.status == .exited(0) else {
                let said = String(decoding: result.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                return said.isEmpty ? "\(result.status)" : said
            }
            return nil
        } catch {
            return error.message
        }
    }
}
