import FuseKit

/// The nodes of tools: `/ai/tools` (every tool with its schema, one JSON object a line) and
/// each socket's `pending/` directory, whose files are the tool calls waiting for `approve ID`
/// or `deny ID` (read-only; they go when the call is decided).
///
/// Inodes, computed like the others: `pending/` is `socketID << 4 | 0xF` (a file number no
/// ``SocketFile`` uses); the call numbered N of a socket is `1 << 59 | socketID << 24 | N`.
enum PendingNodes {
    static let directoryNibble: Inode = 0xF
    static let base: Inode = 1 << 59

    static func directory(_ socket: SocketID) -> Inode { socket << 4 | directoryNibble }
    static func call(_ socket: SocketID, _ number: UInt32) -> Inode { base | socket << 24 | Inode(number & 0xFF_FFFF) }

    static func isDirectory(_ inode: Inode) -> Bool {
        inode >= InodeScheme.firstSocketID << 4 && inode < base && inode & 0xF == directoryNibble
    }
    static func containsCall(_ inode: Inode) -> Bool { inode >= base && inode < base << 1 }
    static func decodeCall(_ inode: Inode) -> (socket: SocketID, number: UInt32) {
        ((inode & ~base) >> 24, UInt32(inode & 0xFF_FFFF))
    }
}

extension AIFileSystem {
    /// The node of a `pending/` inode, if it is one and still there.
    func pendingNode(_ inode: Inode) -> Node? {
        if PendingNodes.isDirectory(inode) {
            return registry.socket(id: inode >> 4).map { .pendingDirectory($0) }
        }
        let (id, number) = PendingNodes.decodeCall(inode)
        guard let socket = registry.socket(id: id), let call = socket.pendingCall(number: number) else { return nil }
        return .pendingCall(socket, call)
    }

    /// Attributes of the tools nodes: `pending/` and its files are as readable as the socket
    /// directory and never writable; their size moves, so nothing is cached.
    func toolAttributes(_ node: Node) -> FileAttributes? {
        switch node {
        case .tools:
            let started = identity.started
            return FileAttributes(inode: InodeScheme.tools, kind: .regular, permissions: 0o444, linkCount: 1,
                                  uid: identity.uid, gid: identity.gid, size: UInt64(environment.toolSetup.listing.count),
                                  accessTime: started, modificationTime: started, changeTime: started)
        case .pendingDirectory(let socket):
            let i = socket.info
            return FileAttributes(inode: PendingNodes.directory(socket.id), kind: .directory, permissions: i.mode & 0o555,
                                  linkCount: 2, uid: i.uid, gid: i.gid, size: 0,
                                  accessTime: i.lastActivity, modificationTime: i.lastActivity, changeTime: i.lastActivity)
        case .pendingCall(let socket, let call):
            let i = socket.info
            return FileAttributes(inode: PendingNodes.call(socket.id, call.number), kind: .regular, permissions: i.mode & 0o444,
                                  linkCount: 1, uid: i.uid, gid: i.gid, size: UInt64(call.text.utf8.count),
                                  accessTime: call.since, modificationTime: call.since, changeTime: call.since)
        default:
            return nil
        }
    }

    /// `lookup` in `pending/`: a waiting call by its id.
    func lookupPending(_ socket: Socket, _ name: String) -> Node? {
        socket.pendingCalls.first { $0.id == name }.map { .pendingCall(socket, $0) }
    }

    /// The entries of `pending/`.
    func pendingEntries(_ socket: Socket) -> [DirectoryEntry] {
        [DirectoryEntry(name: "..", inode: InodeScheme.inode(socket: socket.id, file: nil), kind: .directory)]
            + socket.pendingCalls.map { DirectoryEntry(name: $0.id, inode: PendingNodes.call(socket.id, $0.number), kind: .regular) }
    }
}
