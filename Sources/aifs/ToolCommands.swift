import ArgumentParser
import Foundation

/// `aifs pending`, `aifs approve ID`, `aifs deny ID [REASON]`, `aifs undo ID`: the tool calls
/// waiting for confirmation, on every socket the user may see, and the ctl lines that decide
/// them. They use only the mount's files (`NAME/pending/ID`, `NAME/ctl`), so they work on every
/// host of a namespace and the permissions are the kernel's.
struct PendingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pending", abstract: "List the tool calls waiting for approve or deny, on every socket.")

    @OptionGroup var mount: MountpointOption

    func run() throws {
        let calls = PendingCalls(mountpoint: mount.mountpoint).all()
        if calls.isEmpty { return print("no tool call waits for confirmation") }
        for call in calls {
            let field = { (key: String) in call.fields[key] ?? "" }
            print("\(call.socket)/\(call.id)\t\(field("tool"))\t\(field("reason"))\t\(field("arguments"))")
        }
    }
}

/// `aifs approve ID|NAME/ID|all`.
struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", abstract: "Run a tool call waiting in pending/.")

    @Argument(help: "The call: ID (as `aifs pending` lists it), NAME/ID, or all (every waiting call).")
    var call: String

    @OptionGroup var mount: MountpointOption

    func run() throws {
        let pending = PendingCalls(mountpoint: mount.mountpoint)
        if call == "all" {
            for socket in Set(pending.all().map(\.socket)).sorted() { try pending.control(socket, "approve all") }
            return
        }
        let (socket, id) = try pending.find(call)
        try pending.control(socket, "approve \(id)")
    }
}

/// `aifs deny ID|NAME/ID [REASON…]`.
struct DenyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deny", abstract: "Refuse a tool call waiting in pending/.")

    @Argument(help: "The call: ID (as `aifs pending` lists it) or NAME/ID.")
    var call: String

    @Argument(help: "Why (the model is told).")
    var reason: [String] = []

    @OptionGroup var mount: MountpointOption

    func run() throws {
        let pending = PendingCalls(mountpoint: mount.mountpoint)
        let (socket, id) = try pending.find(call)
        try pending.control(socket, (["deny", id] + reason).joined(separator: " "))
    }
}

/// `aifs undo NAME/ID`: put back the file a `write` call changed.
struct UndoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undo", abstract: "Put back the file a write tool call changed.")

    @Argument(help: "The call: NAME/ID (as the transcript's [tool-call ID write] names it).")
    var call: String

    @OptionGroup var mount: MountpointOption

    func run() throws {
        let parts = call.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("give the call as NAME/ID (the socket and the call's id)") }
        try PendingCalls(mountpoint: mount.mountpoint).control(parts[0], "undo \(parts[1])")
    }
}

/// The waiting calls as the mount shows them, and the ctl writes that decide them.
struct PendingCalls {
    struct Call {
        var socket: String
        var id: String
        var fields: [String: String]
    }

    let root: String

    init(mountpoint: String) { root = RuntimePaths.absolute(mountpoint) }

    /// Every call in every `NAME/pending/` this user may read, by socket then id.
    func all() -> [Call] {
        let manager = FileManager.default
        let sockets = ((try? manager.contentsOfDirectory(atPath: root)) ?? []).sorted()
        var calls: [Call] = []
        for socket in sockets {
            let directory = "\(root)/\(socket)/pending"
            guard let ids = try? manager.contentsOfDirectory(atPath: directory) else { continue }
            for id in ids.sorted() {
                guard let text = try? String(contentsOfFile: "\(directory)/\(id)", encoding: .utf8) else { continue }
                var fields: [String: String] = [:]
                for line in text.split(separator: "\n") {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    let key = String(line[..<colon])
                    if fields[key] == nil { fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
                }
                calls.append(Call(socket: socket, id: id, fields: fields))
            }
        }
        return calls
    }

    /// The socket and id of `call` (`ID` or `NAME/ID`); an id on more than one socket must be named.
    func find(_ call: String) throws -> (socket: String, id: String) {
        let parts = call.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 2 { return (parts[0], parts[1]) }
        let matches = all().filter { $0.id == call }
        guard let first = matches.first else { throw CLIError("no tool call \(call) waits for confirmation (see aifs pending)") }
        guard matches.count == 1 else {
            throw CLIError("\(call) waits on \(matches.count) sockets (\(matches.map(\.socket).joined(separator: ", "))): say NAME/\(call)")
        }
        return (first.socket, first.id)
    }

    /// Writes one line to `NAME/ctl`; the errno and the socket's reason on failure.
    func control(_ socket: String, _ line: String) throws {
        let path = "\(root)/\(socket)/ctl"
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw CLIError("\(path): \(String(cString: strerror(errno)))") }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let writeError = written < 0 ? errno : 0
        let closeError = close(fd) < 0 ? errno : 0
        if writeError != 0 || closeError != 0 {
            let code = writeError != 0 ? writeError : closeError
            throw CLIError("\(line): \(String(cString: strerror(code))) (the reason is in \(root)/\(socket)/error)")
        }
    }
}

/// `-m, --mountpoint`: the mount a command works on (default `$AIFS_MOUNT`, else `/ai`), for
/// every command that reaches the daemon through its files.
struct MountpointOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The mountpoint (default: $AIFS_MOUNT, else /ai).")
    var mountpoint: String = ProcessInfo.processInfo.environment["AIFS_MOUNT"] ?? "/ai"
}
