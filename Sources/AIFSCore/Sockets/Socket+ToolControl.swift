import Foundation
import FuseKit

/// The ctl verbs of tools: `tools` (checked against `/ai/tools`), `approve ID|all`,
/// `deny ID [REASON]` and `undo ID`. Every daemon applies them (they are ctl changes); the
/// owner's agent loop learns the decision, and only the owner puts a file back.
extension Socket {
    /// Refuses a tool command that cannot apply: an unknown tool (`EINVAL`), a call that is
    /// not pending or has nothing to undo (`ENOENT`).
    func checkToolCommand(_ command: ControlCommand) throws(SocketError) {
        switch command {
        case .set(.tools, let value):
            do {
                _ = try environment.toolSetup.catalog.parseEnabled(value)
            } catch {
                throw SocketError(.EINVAL, error.reason)
            }
        case .approve(let callID?), .deny(let callID, _):
            let waiting = state.withLock { s in s.pendingCalls.contains { $0.id == callID && !$0.approved } }
            guard waiting else { throw SocketError(.ENOENT, "no tool call \(callID) waits for confirmation (see pending/)") }
        case .undo(let callID):
            let saved = state.withLock { s in s.undoRecords[callID] != nil }
            guard saved else { throw SocketError(.ENOENT, "nothing to undo for \(callID): only a write call that changed a file can be undone, once") }
        default:
            break
        }
    }

    /// Applies `approve`, `deny` or `undo`; the events to record.
    func applyToolCommandLocked(_ s: inout State, _ command: ControlCommand) -> [StoreEvent] {
        switch command {
        case .approve(let only):
            var events: [StoreEvent] = []
            for index in s.pendingCalls.indices where !s.pendingCalls[index].approved && (only == nil || s.pendingCalls[index].id == only) {
                s.pendingCalls[index].approved = true
                let call = s.pendingCalls[index]
                s.toolDecisions[call.id]?.decide(.approved)
                events.append(memoryEvent(s, .event, "tool call \(call.id) \(call.name) approved", ["call": call.id]))
            }
            return events
        case .deny(let callID, let reason):
            s.toolDecisions[callID]?.decide(.denied(reason))
            return [memoryEvent(s, .event, "tool call \(callID) denied" + (reason.isEmpty ? "" : ": \(reason)"), ["call": callID])]
        default:
            return []  // undo: see undoWork(for:)
        }
    }

    /// The `undo ID`s of a ctl write that this daemon carries out (it owns the socket): each
    /// puts the file back as the owner and posts ``ToolEvent/undone(id:error:)``; the work is
    /// done once every one is applied (`EIO` if one failed, the reason in `error`). Nil when
    /// there is none to do here (another daemon owns the socket and does it).
    func undoWork(for commands: [ControlCommand]) -> Deferred? {
        let jobs: [(String, UndoRecord, UInt32, UInt32, String?)] = state.withLock { s in
            guard environment.log.owns(id) else { return [] }
            return commands.compactMap { command in
                guard case .undo(let callID) = command, let record = s.undoRecords[callID] else { return nil }
                return (callID, record, s.uid, s.gid, s.settings[.workdir])
            }
        }
        guard !jobs.isEmpty else { return nil }
        return { [self] done in
            Task.detached { [self] in
                var failed = false
                for (callID, record, uid, gid, workdir) in jobs {
                    let failure = await ToolExecutor.restore(record, uid: uid, gid: gid, workdir: workdir ?? Self.defaultWorkdir(uid: uid))
                    failed = failed || failure != nil
                    await withCheckedContinuation { (applied: CheckedContinuation<Void, Never>) in
                        environment.log.post(.tool(socket: id, message: 0, event: .undone(id: callID, error: failure))) { _ in
                            applied.resume()
                        }
                    }
                }
                done(failed ? .EIO : nil)
            }
        }
    }

    /// Where the tools of a socket without `workdir` run: its owner's home if it is a
    /// directory (nobody's is `/nonexistent`), else `/`. Not under the socket's lock: the
    /// password database may be remote (NSS).
    static func defaultWorkdir(uid: UInt32) -> String {
        guard let home = ToolRunner.account(uid: uid)?.home else { return "/" }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: home, isDirectory: &isDirectory) && isDirectory.boolValue ? home : "/"
    }
}

extension ControlCommand {
    /// The verb of a tool command only the socket's owner (or root, or the daemon's user) may
    /// give: `tools`, `security`, `set workdir`, `set max-tool-rounds`, `approve`, `deny`,
    /// `undo`; nil for any other command.
    var ownerOnlyToolVerb: String? {
        switch self {
        case .set(let setting, _) where [.tools, .security, .workdir, .maxToolRounds].contains(setting): return setting.rawValue
        case .approve: return "approve"
        case .deny: return "deny"
        case .undo: return "undo"
        default: return nil
        }
    }
}
