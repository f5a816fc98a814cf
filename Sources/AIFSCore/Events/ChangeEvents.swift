/// The events of the commands the ``Applier`` applies: one place that reads an applied change
/// and its result and records what `/ai/events` says of it (socket made, removed, renamed, its
/// owner or mode, state, model, wire, settings, prompt, reset, fork; `/ai/ctl` commands; tool
/// calls). Request, error, snapshot, restore and reload events come from where those happen
/// (the socket's request lifecycle, its `error` lines, ``SnapshotManager``, the reload).
///
/// Derived on every daemon that applies the change (each has the same events); only the
/// daemon that posted it publishes them (``EventLog/record(_:fromLog:publish:)``).
struct ChangeEvents {
    let entry: LoggedChange
    /// The socket the change acts on, as found before it is applied (a removed one is gone after).
    let socket: Socket?
    let registry: SocketRegistry
    let remote: Bool

    /// What to derive events from once `entry` is applied; nil for changes that have none of
    /// their own (reply text, usage and the other work, messages, team rounds).
    init?(_ entry: LoggedChange, registry: SocketRegistry, remote: Bool) {
        switch entry.change {
        case .create, .daemonControl, .tool: socket = nil
        case .remove(let name), .rename(let name, _): socket = registry.socket(named: name)
        case .ownership(let id, _, _, _), .control(let id, _, _, _), .prompt(let id, _): socket = registry.socket(id: id)
        default: return nil
        }
        self.entry = entry
        self.registry = registry
        self.remote = remote
    }

    private var events: EventLog { registry.environment.events }

    /// The uid of the change: the poster's, else the one the change names, else the daemon's.
    private var uid: UInt32 { entry.causeUID ?? events.daemonUID }

    private func record(_ type: String, _ info: SocketInfo, _ fields: [(String, EventValue)] = []) {
        events.record(AIEvent(type, socket: info, uid: uid, fields), fromLog: true, publish: !remote)
    }

    /// Records the events of the applied change; nothing for a refused one (its reason, if
    /// any, is in `error` and so an `error` event).
    func derive(_ result: ChangeResult) {
        if case .done(let error?) = result { _ = error; return }
        switch entry.change {
        case .create(let name, _, _, _, _):
            guard let info = registry.socket(named: name)?.info else { return }
            record("socket_created", info, [("model", .string(info.model))])
        case .remove:
            guard let info = socket?.info else { return }
            record("socket_deleted", info)
        case .rename(let from, let to):
            guard let info = registry.socket(named: to)?.info else { return }
            record("socket_renamed", info, [("from", .string(from)), ("to", .string(to))])
        case .ownership:
            guard let info = socket?.info else { return }
            record("ownership_changed", info)
        case .prompt(_, let bytes):
            guard let info = socket?.info else { return }
            record("prompt_changed", info, [("bytes", .int(bytes.count))])
        case .control(_, let text, _, _):
            guard let socket, let commands = try? ControlCommand.parseLines(text, maxLine: .max) else { return }
            controlEvents(commands, socket: socket)
        case .daemonControl(let text, _, _):
            guard let commands = try? DaemonCommand.parseLines(text, maxLine: .max) else { return }
            for case .create(let name, _) in commands {
                guard let info = registry.socket(named: name)?.info else { continue }
                record("socket_created", info, [("model", .string(info.model))])
            }
        case .tool(let id, let message, let event):
            guard let info = registry.socket(id: id)?.info else { return }
            switch event {
            case .call(let call, let name, _):
                record("tool_call", info, [("message", .int(Int(clamping: message))), ("call", .string(call)), ("tool", .string(name))])
            case .pending(let call, let name, _, let reason):
                record("tool_pending", info, [("message", .int(Int(clamping: message))), ("call", .string(call)), ("tool", .string(name)),
                                              ("reason", .string(reason))])
            case .result(let call, let status, _, let isError):
                record("tool_result", info, [("message", .int(Int(clamping: message))), ("call", .string(call)), ("status", .string(status)),
                                             ("failed", .bool(isError))])
            case .undone(let call, let error):
                record("tool_undone", info, [("call", .string(call)), ("error", error.map(EventValue.string) ?? .null)])
            case .undoSaved:
                break
            }
        default:
            break
        }
    }

    private func controlEvents(_ commands: [ControlCommand], socket: Socket) {
        let info = socket.info
        for command in commands {
            switch command {
            case .model(let model): record("model_changed", info, [("model", .string(model))])
            case .state(let state): record("state_changed", info, [("state", .string(state.rawValue))])
            case .wire(let target): record("wire_changed", info, [("wire", .string(target))])
            case .unwire: record("wire_changed", info, [("wire", .null)])
            case .set(let setting, let value): record("setting_changed", info, [("key", .string(setting.rawValue)), ("value", .string(value))])
            case .reset: record("reset", info)
            case .fork(let name, let turn):
                guard let copy = registry.socket(named: name)?.info else { continue }
                record("socket_created", copy, [("model", .string(copy.model)), ("forked_from", .string(info.name)),
                                                ("turn", turn.map(EventValue.int) ?? .null)])
            default: break  // restore: ``SnapshotManager``; cancel: the request's end
            }
        }
    }
}
