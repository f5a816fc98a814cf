import FuseKit

/// Inode numbers are computed, not allocated (as in acme): fixed nodes have small fixed
/// numbers; a socket's nodes are `socketID << 4 | file`, so a socket's directory and files need
/// no table and no lookup counting. Socket ids are never reused while the daemon runs, so a
/// stale inode of a deleted socket answers `ENOENT` instead of reaching another socket.
public enum InodeScheme {
    public static let root: Inode = 1
    public static let daemonControl: Inode = 2
    public static let models: Inode = 3
    public static let teamChat: Inode = 4
    public static let memory: Inode = 5
    public static let memorySearch: Inode = 6
    public static let snapshots: Inode = 7
    /// `team-chat-all/{input,output,error,ctl}`: 8–11 (see ``TeamFile``).
    public static func inode(team file: TeamFile) -> Inode { 7 + file.rawValue }
    /// `/ai/tools`: every tool with its schema.
    public static let tools: Inode = 12
    /// `/ai/metrics`: the Prometheus text of the daemon's counters and gauges.
    public static let metrics: Inode = 13
    /// `/ai/events`: the daemon's events, one JSON line each (``EventLog``).
    public static let events: Inode = 14
    /// `/ai/cluster`: the daemons of the namespace, one JSON object per line.
    public static let cluster: Inode = 15
    /// `/ai/directory`: every socket the reader may see, as JSON (``AgentDirectory``). Above
    /// every socket inode, below the pending calls (1 << 59), scratch files (1 << 60),
    /// snapshots (1 << 61) and search results (1 << 62).
    public static let directory: Inode = 1 << 58
    /// Socket ids start here; `1 << 4 = 16` is above every fixed inode.
    public static let firstSocketID: SocketID = 1

    public static func inode(socket: SocketID, file: SocketFile?) -> Inode {
        socket << 4 | (file?.rawValue ?? 0)
    }

    /// The socket and file (nil: the socket's directory) an inode names, if it is a socket's.
    public static func decode(_ inode: Inode) -> (socket: SocketID, file: SocketFile?)? {
        guard inode >= firstSocketID << 4 else { return nil }
        let low = inode & 0xF
        if low == 0 { return (inode >> 4, nil) }
        guard let file = SocketFile(rawValue: low) else { return nil }
        return (inode >> 4, file)
    }
}

/// The files of a socket directory: one table drives `lookup`, `readdir`, modes and `open`
/// (acme's `Dirtab`).
public enum SocketFile: UInt64, CaseIterable, Sendable, NamedFile {
    case input = 1, output, error, ctl, prompt, transcript, chat
    /// What the model gets next: the system prompt and the context, turn by turn (read-only).
    case context
    /// The body files of an agent socket (model `agent/NAME`; see `docs/agents.md`): the
    /// message to answer, its reply, the agent's model, its network gateway. 9–12 (`pending/`
    /// uses 0xF).
    case inbox = 9, outbox, brain, network

    public var readable: Bool { self != .input && self != .outbox }
    public var writable: Bool {
        switch self {
        case .input, .ctl, .prompt, .chat, .outbox, .brain, .network: return true
        case .output, .error, .transcript, .context, .inbox: return false
        }
    }
    /// Only an agent socket has it.
    public var isAgentFile: Bool { rawValue >= SocketFile.inbox.rawValue }

    /// Permission bits follow the socket directory's: its read bits on readable files, its
    /// write bits on writable ones.
    public func permissions(directoryMode: UInt32) -> UInt32 {
        (readable ? directoryMode & 0o444 : 0) | (writable ? directoryMode & 0o222 : 0)
    }

    /// Seconds the kernel may cache the attributes: 0 where the size or time moves.
    var attributeTimeout: Double { self == .input ? 1 : 0 }
}

/// The fixed names of the root directory.
enum RootEntry: String, CaseIterable {
    case ctl, models
    case teamChat = "team-chat-all"
    case memory, snapshots, tools, metrics, events, cluster, directory

    var inode: Inode {
        switch self {
        case .events: return InodeScheme.events
        case .tools: return InodeScheme.tools
        case .metrics: return InodeScheme.metrics
        case .cluster: return InodeScheme.cluster
        case .directory: return InodeScheme.directory
        case .ctl: return InodeScheme.daemonControl
        case .models: return InodeScheme.models
        case .teamChat: return InodeScheme.teamChat
        case .memory: return InodeScheme.memory
        case .snapshots: return InodeScheme.snapshots
        }
    }

    var kind: NodeKind {
        switch self {
        case .ctl, .models, .tools, .metrics, .events, .cluster, .directory: return .regular
        case .teamChat, .memory, .snapshots: return .directory
        }
    }
}

/// The files of `team-chat-all/` (one table for lookup, readdir, modes and open).
public enum TeamFile: UInt64, CaseIterable, Sendable, NamedFile {
    case input = 1, output, error, ctl

    init?(inode: Inode) {
        guard inode >= 8, inode <= 11 else { return nil }
        self.init(rawValue: inode - 7)
    }

    public var readable: Bool { self != .input }
    public var writable: Bool { self == .input || self == .ctl }
    var permissions: UInt32 { (readable ? 0o444 : 0) | (writable ? 0o222 : 0) }
}

/// Inodes of the nodes inside `/ai/snapshots/`, computed like a socket's:
/// `1 << 61 | snapshotID << 24 | index << 4 | kind`. Index 0 is the snapshot itself (kind 0 its
/// directory, 1 `metadata.json`, 2 `sockets/`); index i ≥ 1 is the i-th socket in it (kind 0 its
/// directory, then its files, see ``SnapshotFile``). Snapshot ids are never reused, so a stale
/// inode of a deleted snapshot answers `ENOENT`.
public enum SnapshotNode: Equatable, Sendable {
    case root
    case metadata
    case sockets
    case socket(Int)
    case file(Int, SnapshotFile)

    static let base: Inode = 1 << 61

    static func contains(_ inode: Inode) -> Bool { inode >= base && inode < base << 1 }

    static func inode(snapshot: Int64, _ node: SnapshotNode) -> Inode {
        let (index, kind): (Int, UInt64) = switch node {
        case .root: (0, 0)
        case .metadata: (0, 1)
        case .sockets: (0, 2)
        case .socket(let i): (i + 1, 0)
        case .file(let i, let file): (i + 1, file.rawValue)
        }
        return base | UInt64(snapshot) << 24 | UInt64(index) << 4 | kind
    }

    static func decode(_ inode: Inode) -> (snapshot: Int64, node: SnapshotNode)? {
        guard contains(inode) else { return nil }
        let snapshot = Int64((inode & ~base) >> 24)
        let index = Int((inode >> 4) & 0xFFFFF)
        let kind = inode & 0xF
        if index == 0 {
            switch kind {
            case 0: return (snapshot, .root)
            case 1: return (snapshot, .metadata)
            case 2: return (snapshot, .sockets)
            default: return nil
            }
        }
        if kind == 0 { return (snapshot, .socket(index - 1)) }
        guard let file = SnapshotFile(rawValue: kind) else { return nil }
        return (snapshot, .file(index - 1, file))
    }
}

/// A fixed file of a directory table: found by its name.
public protocol NamedFile: CaseIterable {
    var name: String { get }
}

extension NamedFile {
    /// A file is named as its case.
    public var name: String { String(describing: self) }

    public init?(name: String) {
        guard let file = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = file
    }
}
