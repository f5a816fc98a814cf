/// One step of the agent loop of a socket's request in flight, as the owner posts it (a
/// ``Change/tool(socket:message:event:)``) and every daemon applies it: the transcript, `error`,
/// memory, `output` (with `headers on`) and `pending/` come out the same on every mount.
///
/// `id` is the daemon's name for the call (`MESSAGE.N`, the N-th call of that message), the
/// one `pending/ID`, `approve ID`, `deny ID` and `undo ID` use; the vendor's own call id
/// stays with the owner.
public enum ToolEvent: Sendable, Equatable {
    /// The model asked for tool `name` with these arguments (as it wrote them).
    case call(id: String, name: String, arguments: String)
    /// The call waits for `approve ID` or `deny ID`; `reason` says why it needs confirmation.
    case pending(id: String, name: String, arguments: String, reason: String)
    /// The call's result as the model gets it: `status` as the transcript shows it (`exit 0`,
    /// `exit 2`, `refused`, `denied`, `error`, `timeout`, `killed`), the output, and whether
    /// the model is told it failed.
    case result(id: String, status: String, output: [UInt8], isError: Bool)
    /// What a `write` call is about to replace: the file and its content before (nil: there
    /// was no file), kept for `undo ID`.
    case undoSaved(id: String, path: String, previous: [UInt8]?)
    /// `undo ID` put the file back (or could not: `error` holds why).
    case undone(id: String, error: String?)

    func encode(into w: inout BinaryWriter) {
        switch self {
        case .call(let id, let name, let arguments):
            w.u8(1); w.string(id); w.string(name); w.string(arguments)
        case .pending(let id, let name, let arguments, let reason):
            w.u8(2); w.string(id); w.string(name); w.string(arguments); w.string(reason)
        case .result(let id, let status, let output, let isError):
            w.u8(3); w.string(id); w.string(status); w.bytes(output); w.bool(isError)
        case .undoSaved(let id, let path, let previous):
            w.u8(4); w.string(id); w.string(path); w.bool(previous != nil); w.bytes(previous ?? [])
        case .undone(let id, let error):
            w.u8(5); w.string(id); w.bool(error != nil); w.string(error ?? "")
        }
    }

    static func decode(_ r: inout BinaryReader) throws -> ToolEvent {
        switch try r.u8() {
        case 1: return .call(id: try r.string(), name: try r.string(), arguments: try r.string())
        case 2: return .pending(id: try r.string(), name: try r.string(), arguments: try r.string(), reason: try r.string())
        case 3: return .result(id: try r.string(), status: try r.string(), output: try r.bytes(), isError: try r.bool())
        case 4:
            let id = try r.string(), path = try r.string(), present = try r.bool(), bytes = try r.bytes()
            return .undoSaved(id: id, path: path, previous: present ? bytes : nil)
        case 5:
            let id = try r.string(), failed = try r.bool(), text = try r.string()
            return .undone(id: id, error: failed ? text : nil)
        default: throw StoreError("cluster entry with an unknown tool event")
        }
    }
}
