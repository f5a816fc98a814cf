import Foundation
import FuseKit
import Synchronization

/// The agent loop of a socket with tools (the AIOS design: "the AI judges, the tool
/// executes"), run by the socket's owner for the request in flight: the model is asked; if it
/// calls tools, each call is checked (enabled, known, arguments against the schema), judged by
/// the security policy, confirmed through `pending/` when the policy says so, run as the
/// socket's owner, and its result goes back to the model; until the model answers in text, at
/// most `max-tool-rounds` times. Every step is a ``ToolEvent`` in the log.
extension Socket {
    /// Tool rounds one message may take when the socket sets no `max-tool-rounds`.
    static let standardToolRounds = 16

    /// The tools a socket has enabled (none for a compaction), as its provider offers them.
    func enabledToolsLocked(_ s: State) -> [ToolDefinition] {
        guard let value = s.settings[.tools], value != "none" else { return [] }
        let catalog = environment.toolSetup.catalog
        return value.split(separator: ",").compactMap { catalog.tool(named: String($0)) }
    }

    /// Answers `first` through the agent loop; how it went.
    func respondWithTools(_ work: Work, _ provider: any Provider, _ first: ProviderRequest, timeout: Double?) async -> Outcome {
        var request = first
        let poster = WorkPoster(log: environment.log, socket: self, work: work)
        let limit = first.settings[.maxToolRounds].flatMap(Int.init) ?? Self.standardToolRounds
        var calls = 0
        do {
            while true {
                let round = ToolRoundSink(poster)
                try await Self.ask(provider, request, into: round, timeout: timeout)
                let asked = round.calls
                guard !asked.isEmpty else { return .completed }
                guard request.toolRounds.count < limit else {
                    return .failed("max-tool-rounds \(limit) reached and the model still calls tools ("
                                   + asked.map(\.name).joined(separator: ", ") + ") instead of answering")
                }
                var results: [ToolCallResult] = []
                for call in asked {
                    calls += 1
                    let answer = await runToolCall(work, call, id: ToolName.callID(message: work.message.id, number: calls), poster: poster)
                    try Task.checkCancellation()
                    results.append(ToolCallResult(id: call.id, content: answer.content, isError: answer.isError))
                }
                request.toolRounds.append(ToolRound(text: round.text, calls: asked, results: results))
            }
        } catch is CancellationError {
            return .cancelled("request cancelled")
        } catch {
            return .failed("\(error)")
        }
    }

    /// One provider call, within the socket's `timeout` if it sets one.
    static func ask(_ provider: any Provider, _ request: ProviderRequest, into sink: any ReplySink, timeout: Double?) async throws {
        guard let timeout else { return try await provider.respond(to: request, into: sink) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await provider.respond(to: request, into: sink) }
            group.addTask {
                try await CancellableSleep.sleep(seconds: timeout)  // frees its timer when cancelled
                throw ProviderError("timed out after \(timeout)s")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// What the model gets back for one call.
    struct ToolAnswer {
        var content: String
        var isError: Bool
    }

    /// Checks, judges, confirms and runs one call, posting each step; its answer for the model.
    private func runToolCall(_ work: Work, _ call: ToolCallRequest, id callID: String, poster: WorkPoster) async -> ToolAnswer {
        poster.tool(.call(id: callID, name: call.name, arguments: call.arguments))
        func answer(_ status: String, _ text: String, error: Bool) -> ToolAnswer {
            poster.tool(.result(id: callID, status: status, output: Array(text.utf8), isError: error))
            // An empty result is "(no output)": Anthropic refuses an empty tool_result.
            return ToolAnswer(content: text.isEmpty ? "(no output)" : text, isError: error)
        }
        let setup = environment.toolSetup
        let (enabled, initial) = toolContext(work, setup)
        var context = initial
        // Tools run as the owner, so only the owner's own messages (or root's, or the daemon
        // user's) may run them: another user who may write input must not act as the owner.
        let sender = work.message.uid
        guard sender == context.uid || sender == 0 || sender == geteuid() else {
            return answer("refused", "refused: message \(work.message.id) came from uid \(sender); this socket's tools run as its "
                          + "owner (uid \(context.uid)) and only for the owner's own messages", error: true)
        }
        guard enabled.contains(call.name), let tool = setup.catalog.tool(named: call.name) else {
            let known = enabled.isEmpty ? "none" : enabled.joined(separator: ", ")
            return answer("error", "unknown tool '\(call.name.prefix(64))': this socket's tools are \(known)", error: true)
        }
        let arguments: [String: any Sendable]
        do {
            arguments = try ToolArguments.check(call.arguments, schema: tool.parameters)
        } catch {
            return answer("error", "bad arguments for \(tool.name): \(error.message)", error: true)
        }
        let subject = ToolPolicy.subject(tool: tool.name, arguments: arguments, json: call.arguments)
        var snapshotFirst = false
        switch setup.policy.judge(subject: subject, mode: context.mode) {
        case .refuse(let reason):
            return answer("refused", "refused (security \(context.mode.rawValue)): \(reason)", error: true)
        case .confirm(let reason):
            switch await confirm(callID, call, reason: reason, poster: poster, timeout: setup.security.confirmTimeout) {
            case .approved:
                snapshotFirst = true
                // Who it runs as is read again: the socket may have changed hands meanwhile.
                let now = toolContext(work, setup).1
                guard now.uid == context.uid, now.gid == context.gid else {
                    return answer("refused", "refused: the socket changed owner while the call waited (uid \(context.uid) → \(now.uid))",
                                  error: true)
                }
                context = now
            case .denied(let why): return answer("denied", "denied by the user" + (why.isEmpty ? "" : ": \(why)"), error: true)
            case .timedOut:
                return answer("denied", "denied: not confirmed within \(Int(setup.security.confirmTimeout)) s ([security] confirm_timeout)",
                              error: true)
            case .cancelled: return ToolAnswer(content: "cancelled", isError: true)
            }
        case .run:
            // A call that matches require_confirm is snapshotted first whatever the mode.
            if context.mode == .trusted, case .confirm = setup.policy.judge(subject: subject, mode: .normal) { snapshotFirst = true }
        }
        if snapshotFirst { await snapshotBefore(callID) }
        let outcome = await ToolExecutor.run(tool, arguments: arguments, json: call.arguments, context: context, callID: callID,
                                             poster: poster, environment: environment)
        return answer(outcome.status, outcome.text, error: outcome.isError)
    }

    /// The enabled tools and who a call runs for, as the socket stands now. The owner's account
    /// (its home, for the default workdir) is looked up outside the socket's lock.
    private func toolContext(_ work: Work, _ setup: ToolSetup) -> ([String], ToolContext) {
        let (enabled, name, uid, gid, workdir, mode) = state.withLock { s in
            (enabledToolsLocked(s).map(\.name), s.name, s.uid, s.gid, s.settings[.workdir],
             s.settings[.security].flatMap(SecurityMode.init) ?? setup.security.mode)
        }
        return (enabled, ToolContext(socket: name, socketID: id, uid: uid, gid: gid, workdir: workdir ?? Self.defaultWorkdir(uid: uid),
                                     mode: mode, askedBy: work.message.route.chat?.askedBy ?? []))
    }

    /// Parks the call in `pending/` until it is approved, denied, times out or the request ends.
    private func confirm(_ callID: String, _ call: ToolCallRequest, reason: String, poster: WorkPoster,
                         timeout: Double) async -> ToolDecisionValue {
        let decision = ToolDecision()
        state.withLock { s in s.toolDecisions[callID] = decision }
        poster.tool(.pending(id: callID, name: call.name, arguments: call.arguments, reason: reason))
        let timer = Task.detached {
            try? await CancellableSleep.sleep(seconds: timeout)
            if !Task.isCancelled { decision.decide(.timedOut) }
        }
        defer {
            timer.cancel()
            state.withLock { s in s.toolDecisions[callID] = nil }
        }
        return await decision.wait()
    }

    /// A snapshot of this socket before a call that needed confirmation or matched
    /// `require_confirm` (`before-tool-NAME-ID`); a store without snapshots says so in `error`.
    private func snapshotBefore(_ callID: String) async {
        let name = state.withLock { s in "before-tool-\(s.name.prefix(30))-\(callID)" }
        let result: Errno? = await withCheckedContinuation { continuation in
            environment.log.post(.snapshot(name: SnapshotName.problem(with: name) == nil ? name : "before-tool-\(id)-\(callID)",
                                           trigger: .beforeTool, socket: id)) { continuation.resume(returning: $0.errno) }
        }
        if let result { reportError(kind: "tool", "no snapshot before call \(callID): \(result)") }
    }
}

/// Who a tool runs for and where: the socket, its owner, its working directory, its security
/// mode, and (for `ask`) the sockets whose asks led here.
struct ToolContext: Sendable {
    var socket: String
    var socketID: SocketID
    var uid: UInt32
    var gid: UInt32
    var workdir: String
    var mode: SecurityMode
    var askedBy: [SocketID]
}

/// The sink of one provider call in the agent loop: text and the rest go on to the socket as
/// usual; the tool calls and the round's text are kept for the next request.
final class ToolRoundSink: ReplySink, @unchecked Sendable {
    private let inner: WorkPoster
    private let held = Mutex<(calls: [ToolCallRequest], text: [UInt8])>(([], []))

    init(_ inner: WorkPoster) { self.inner = inner }

    var calls: [ToolCallRequest] { held.withLock { $0.calls } }
    var text: String { String(decoding: held.withLock { $0.text }, as: UTF8.self) }

    func text(_ bytes: [UInt8]) {
        held.withLock { $0.text.append(contentsOf: bytes) }
        inner.text(bytes)
    }
    func reasoning(_ bytes: [UInt8]) { inner.reasoning(bytes) }
    func usage(input: Int, output: Int) { inner.usage(input: input, output: output) }
    func diagnostic(kind: String, _ message: String) { inner.diagnostic(kind: kind, message) }
    func toolCall(_ call: ToolCallRequest) { held.withLock { $0.calls.append(call) } }
}
