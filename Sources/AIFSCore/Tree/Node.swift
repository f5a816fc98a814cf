import FuseKit

/// What an inode of the tree is: the fixed files and directories, a socket's directory and
/// files, the team chat's files, a search result, a node inside a snapshot. Inode numbers are
/// computed (``InodeScheme``), so every node is found from its number alone; only search
/// results are allocated (``SearchNodes``).
extension AIFileSystem {
    enum Node {
        case root
        case daemonControl
        case models
        /// `/ai/metrics` (``MetricsText``).
        case metrics
        /// `/ai/events` (``EventLog``, ``EventsFile``).
        case events
        /// `/ai/cluster` (``ClusterMember``).
        case cluster
        /// `/ai/directory` (``AgentDirectory``).
        case directory
        case teamChat
        case teamFile(TeamFile)
        case memory
        case memorySearch
        case snapshots
        case socketDirectory(Socket)
        case socketFile(Socket, SocketFile)
        case searchResult(Inode, query: String)
        case snapshot(SnapshotInfo, SnapshotNode)
        /// A scratch file in a socket directory (``ScratchFiles``).
        case scratch(ScratchFiles.File, Socket)
        /// `/ai/tools`, a socket's `pending/` and a call waiting in it (``PendingNodes``).
        case tools
        case pendingDirectory(Socket)
        case pendingCall(Socket, PendingCall)
    }

    func node(_ inode: Inode) -> Node? {
        switch inode {
        case InodeScheme.root: return .root
        case InodeScheme.daemonControl: return .daemonControl
        case InodeScheme.models: return .models
        case InodeScheme.metrics: return .metrics
        case InodeScheme.cluster: return .cluster
        case InodeScheme.directory: return .directory
        case InodeScheme.events: return .events
        case InodeScheme.teamChat: return .teamChat
        case InodeScheme.memory: return .memory
        case InodeScheme.memorySearch: return .memorySearch
        case InodeScheme.snapshots: return .snapshots
        case InodeScheme.tools: return .tools
        case _ where PendingNodes.isDirectory(inode) || PendingNodes.containsCall(inode): return pendingNode(inode)
        case _ where TeamFile(inode: inode) != nil: return .teamFile(TeamFile(inode: inode)!)
        case _ where SnapshotNode.contains(inode):
            guard let (id, node) = SnapshotNode.decode(inode), let info = snapshots.snapshot(id: id) else { return nil }
            if case .socket(let index) = node, index >= info.sockets.count { return nil }
            if case .file(let index, _) = node, index >= info.sockets.count { return nil }
            return .snapshot(info, node)
        case _ where ScratchFiles.contains(inode):
            guard let file = scratch.file(inode: inode), let socket = registry.socket(id: file.socket) else { return nil }
            return .scratch(file, socket)
        case _ where SearchNodes.contains(inode):
            return searchNodes.query(for: inode).map { .searchResult(inode, query: $0) }
        default:
            guard let (id, file) = InodeScheme.decode(inode), let socket = registry.socket(id: id) else { return nil }
            if let file { return .socketFile(socket, file) }
            return .socketDirectory(socket)
        }
    }

    /// `caller` decides the size and time of `/ai/events` (each reader has a view of its own;
    /// without a caller, the daemon's user's).
    func attributes(_ node: Node, caller: Caller? = nil) -> FileAttributes {
        let owner = (identity.uid, identity.gid)
        let started = identity.started
        func fixed(_ inode: Inode, _ kind: NodeKind, _ permissions: UInt32, size: Int = 0) -> FileAttributes {
            FileAttributes(inode: inode, kind: kind, permissions: permissions, linkCount: kind == .directory ? 2 : 1,
                           uid: owner.0, gid: owner.1, size: UInt64(size),
                           accessTime: started, modificationTime: started, changeTime: started)
        }
        if let attributes = toolAttributes(node) { return attributes }
        switch node {
        case .tools, .pendingDirectory, .pendingCall: fatalError("answered by toolAttributes")
        case .root: return fixed(InodeScheme.root, .directory, identity.multiUser ? 0o1777 : 0o755)
        case .daemonControl: return fixed(InodeScheme.daemonControl, .regular, 0o644, size: daemonControlText().utf8.count)
        case .models: return fixed(InodeScheme.models, .regular, 0o444, size: modelsText().utf8.count)
        // Size 0: the text is made at open (direct I/O reads it whole); a stat renders nothing.
        case .metrics: return fixed(InodeScheme.metrics, .regular, 0o444)
        case .cluster: return fixed(InodeScheme.cluster, .regular, 0o444)
        case .directory: return fixed(InodeScheme.directory, .regular, 0o444)
        case .events:
            let (size, modified) = environment.events.size(for: caller ?? Caller(uid: owner.0, gid: owner.1))
            return FileAttributes(inode: InodeScheme.events, kind: .regular, permissions: 0o444, linkCount: 1,
                                  uid: owner.0, gid: owner.1, size: UInt64(size),
                                  accessTime: modified, modificationTime: modified, changeTime: modified)
        case .teamChat: return fixed(InodeScheme.teamChat, .directory, 0o755)
        case .teamFile(let file):
            // The team chat's settings are the daemon's: only its user (or root) changes them.
            return fixed(InodeScheme.inode(team: file), .regular, file == .ctl ? 0o644 : file.permissions,
                         size: file == .ctl ? registry.team.controlText().utf8.count : 0)
        case .memory: return fixed(InodeScheme.memory, .directory, 0o555)
        case .memorySearch: return fixed(InodeScheme.memorySearch, .directory, 0o555)
        case .snapshots: return fixed(InodeScheme.snapshots, .directory, 0o755)
        case .snapshot(let info, let node): return snapshotAttributes(info, node)
        case .socketDirectory(let socket):
            let i = socket.info
            return FileAttributes(inode: InodeScheme.inode(socket: socket.id, file: nil), kind: .directory,
                                  permissions: i.mode, linkCount: 2, uid: i.uid, gid: i.gid, size: 0,
                                  accessTime: i.lastActivity, modificationTime: i.lastActivity, changeTime: i.lastActivity)
        case .scratch(let file, _):
            return FileAttributes(inode: file.inode, kind: .regular, permissions: 0o600, linkCount: 1, uid: file.uid, gid: file.gid,
                                  size: UInt64(file.bytes.count), accessTime: file.modified, modificationTime: file.modified,
                                  changeTime: file.modified)
        case .searchResult(let inode, _):
            let now = WallClock.now()
            return FileAttributes(inode: inode, kind: .regular, permissions: 0o444, linkCount: 1, uid: owner.0, gid: owner.1,
                                  size: 0, accessTime: now, modificationTime: now, changeTime: now)
        case .socketFile(let socket, let file):
            let i = socket.info
            var size = 0
            var modified = i.lastActivity
            switch file {
            case .transcript:
                size = i.transcriptSize
                modified = i.transcriptModified
            case .prompt: size = i.promptSize
            case .ctl: size = socket.controlText().utf8.count
            case .context: size = socket.contextSize
            default: break
            }
            return FileAttributes(inode: InodeScheme.inode(socket: socket.id, file: file), kind: .regular,
                                  permissions: file.permissions(directoryMode: i.mode), linkCount: 1,
                                  uid: i.uid, gid: i.gid, size: UInt64(size),
                                  accessTime: modified, modificationTime: modified, changeTime: modified)
        }
    }

    func attributeTimeout(_ node: Node) -> Double {
        switch node {
        case .socketFile(_, let file): return file.attributeTimeout
        case .daemonControl, .models, .metrics, .events, .cluster, .directory, .searchResult, .teamFile, .scratch, .tools, .pendingDirectory,
             .pendingCall:
            return 0
        default: return Self.entryTimeout
        }
    }

    func entry(_ node: Node, caller: Caller? = nil) -> Entry {
        if case .events = node { return Entry(attributes: attributes(node, caller: caller), entryTimeout: Self.entryTimeout, attributeTimeout: 0) }
        // A search result is never cached: every open runs the query again.
        if case .searchResult = node { return Entry(attributes: attributes(node), entryTimeout: 0, attributeTimeout: 0) }
        if case .scratch = node { return Entry(attributes: attributes(node), entryTimeout: 0, attributeTimeout: 0) }
        if case .pendingCall = node { return Entry(attributes: attributes(node), entryTimeout: 0, attributeTimeout: 0) }
        return Entry(attributes: attributes(node), entryTimeout: Self.entryTimeout, attributeTimeout: attributeTimeout(node))
    }

}
