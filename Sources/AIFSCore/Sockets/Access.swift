/// Who may read or write a socket, by its mode and owner, as the kernel decides for files
/// (`default_permissions`). The daemon asks the same question where the kernel cannot: a
/// broadcast reaching many sockets, a wire into another socket, memory search results,
/// commands reserved to the owner. Only the primary group of the caller is known (FUSE passes
/// uid, gid and pid).
public struct Caller: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    public var isRoot: Bool { uid == 0 }

    public enum Want: Sendable { case read, write }

    /// Whether the permission bits of a node with this mode and owner let the caller `want`.
    public func may(_ want: Want, mode: UInt32, uid owner: UInt32, gid group: UInt32) -> Bool {
        if isRoot { return true }
        let bits: UInt32 = want == .read ? 0o4 : 0o2
        if uid == owner { return mode & (bits << 6) != 0 }
        if gid == group { return mode & (bits << 3) != 0 }
        return mode & bits != 0
    }
}

extension Socket {
    /// Whether `caller` may read (`output`, `transcript`) or write (`input`, `ctl`) this socket.
    public func allows(_ want: Caller.Want, _ caller: Caller) -> Bool {
        let i = info
        return caller.may(want, mode: i.mode, uid: i.uid, gid: i.gid)
    }

    /// Whether `caller` may do what only the owner may (`rmdir`, `reset`, `restore`): root, the
    /// socket's owner, or the user the daemon runs as.
    public func isOwned(by caller: Caller, daemonUID: UInt32) -> Bool {
        caller.isRoot || caller.uid == info.uid || caller.uid == daemonUID
    }
}
