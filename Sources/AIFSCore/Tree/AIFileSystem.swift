import FuseKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the daemon says about itself in `/ai/ctl`.
public struct DaemonIdentity: Sendable {
    public var version: String
    public var mountpoint: String
    public var started: Double
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Mounted with `allow_other`: other users reach the mount and the kernel checks permission
    /// bits, so `/ai` is `1777` (anyone may make a socket; only its owner may remove it).
    public var multiUser: Bool
    public init(version: String, mountpoint: String, started: Double = WallClock.now(),
                pid: Int32 = getpid(), uid: UInt32 = getuid(), gid: UInt32 = getgid(), multiUser: Bool = false) {
        self.multiUser = multiUser
        self.version = version
        self.mountpoint = mountpoint
        self.started = started
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// Tells the kernel to forget cached names when the tree changes without a request from it.
public protocol KernelCacheInvalidator: AnyObject, Sendable {
    func invalidateEntry(parent: Inode, name: String)
    func invalidateInode(_ inode: Inode, dataToo: Bool)
}

extension FuseSession: KernelCacheInvalidator {}

/// The aifs tree as a FUSE filesystem: `/ai/{ctl,models,team-chat-all,memory,snapshots}` and one
/// directory per socket with `input output error ctl prompt transcript`.
///
/// Handlers run on the FUSE loop thread and never block: they read or change socket state
/// under short locks, answer at once, or park the request (a read waiting for a reply, a flush
/// waiting for its commit). `docs/file-protocol.md` gives each file's errnos.
public final class AIFileSystem: FileSystem {
    public let registry: SocketRegistry
    public let identity: DaemonIdentity
    /// `/ai/snapshots`, restore and the automatic snapshots.
    public let snapshots: SnapshotManager
    let searchNodes = SearchNodes()
    /// Hits a memory search returns at most.
    public static let searchLimit = 100
    private let invalidatorBox = Mutex<KernelCacheInvalidatorRef?>(nil)
    private let daemonError = Mutex<String?>(nil)
    /// With the Redis backend: `chat` streams of this daemon waiting for their message to be
    /// applied, by token.
    let clusterChats = Mutex<[UInt64: ChatStream]>([:])
    let nextChatToken = Mutex<UInt64>(1)

    /// Seconds the kernel may cache names and stable attributes.
    static let entryTimeout = 1.0

    public init(registry: SocketRegistry, identity: DaemonIdentity) {
        self.registry = registry
        self.identity = identity
        snapshots = SnapshotManager(environment: registry.environment, registry: registry)
    }

    /// Set once mounted, so changes from outside requests reach the kernel's caches.
    public func setInvalidator(_ invalidator: (any KernelCacheInvalidator)?) {
        invalidatorBox.withLock { $0 = invalidator.map(KernelCacheInvalidatorRef.init) }
        snapshots.setInvalidator { [weak self] names in
            guard let invalidator = self?.invalidator else { return }
            for name in names { invalidator.invalidateEntry(parent: InodeScheme.root, name: name) }
        }
    }

    var environment: SocketEnvironment { registry.environment }

    // MARK: Nodes

    enum Node {
        case root
        case daemonControl
        case models
        case teamChat
        case teamFile(TeamFile)
        case memory
        case memorySearch
        case snapshots
        case socketDirectory(Socket)
        case socketFile(Socket, SocketFile)
        case searchResult(Inode, query: String)
        case snapshot(SnapshotInfo, SnapshotNode)
    }

    func node(_ inode: Inode) -> Node? {
        switch inode {
        case InodeScheme.root: return .root
        case InodeScheme.daemonControl: return .daemonControl
        case InodeScheme.models: return .models
        case InodeScheme.teamChat: return .teamChat
        case InodeScheme.memory: return .memory
        case InodeScheme.memorySearch: return .memorySearch
        case InodeScheme.snapshots: return .snapshots
        case _ where TeamFile(inode: inode) != nil: return .teamFile(TeamFile(inode: inode)!)
        case _ where SnapshotNode.contains(inode):
            guard let (id, node) = SnapshotNode.decode(inode), let info = snapshots.snapshot(id: id) else { return nil }
            if case .socket(let index) = node, index >= info.sockets.count { return nil }
            if case .file(let index, _) = node, index >= info.sockets.count { return nil }
            return .snapshot(info, node)
        case _ where SearchNodes.contains(inode):
            return searchNodes.query(for: inode).map { .searchResult(inode, query: $0) }
        default:
            guard let (id, file) = InodeScheme.decode(inode), let socket = registry.socket(id: id) else { return nil }
            if let file { return .socketFile(socket, file) }
            return .socketDirectory(socket)
        }
    }

    func attributes(_ node: Node) -> FileAttributes {
        let owner = (identity.uid, identity.gid)
        let started = identity.started
        func fixed(_ inode: Inode, _ kind: NodeKind, _ permissions: UInt32, size: Int = 0) -> FileAttributes {
            FileAttributes(inode: inode, kind: kind, permissions: permissions, linkCount: kind == .directory ? 2 : 1,
                           uid: owner.0, gid: owner.1, size: UInt64(size),
                           accessTime: started, modificationTime: started, changeTime: started)
        }
        switch node {
        case .root: return fixed(InodeScheme.root, .directory, identity.multiUser ? 0o1777 : 0o755)
        case .daemonControl: return fixed(InodeScheme.daemonControl, .regular, 0o644, size: daemonControlText().utf8.count)
        case .models: return fixed(InodeScheme.models, .regular, 0o444, size: modelsText().utf8.count)
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
        case .daemonControl, .models, .searchResult, .teamFile: return 0
        default: return Self.entryTimeout
        }
    }

    func entry(_ node: Node) -> Entry {
        // A search result is never cached: every open runs the query again.
        if case .searchResult = node { return Entry(attributes: attributes(node), entryTimeout: 0, attributeTimeout: 0) }
        return Entry(attributes: attributes(node), entryTimeout: Self.entryTimeout, attributeTimeout: attributeTimeout(node))
    }

    public func forget(inode: Inode, lookups: UInt64) {
        if SearchNodes.contains(inode) { searchNodes.forget(inode, lookups: lookups) }
    }

    // MARK: Names

    public func lookup(_ request: consuming Request, parent: Inode, name: FileName) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        guard let text = name.string else { return request.reply(error: .ENOENT) }
        switch parentNode {
        case .root:
            if let fixed = RootEntry(rawValue: text), let child = node(fixed.inode) {
                return request.reply(entry: entry(child))
            }
            guard let socket = registry.socket(named: text) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.socketDirectory(socket)))
        case .memory:
            guard text == "search" else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.memorySearch))
        case .socketDirectory(let socket):
            guard let file = SocketFile(name: text) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.socketFile(socket, file)))
        case .memorySearch:
            // Any name is a query; never ENOENT, so nothing is cached as a negative entry.
            let inode = searchNodes.lookup(text)
            request.reply(entry: entry(.searchResult(inode, query: text)))
        case .teamChat:
            guard let file = TeamFile(name: text) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.teamFile(file)))
        case .snapshots:
            guard let info = snapshots.snapshot(named: text) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.snapshot(info, .root)))
        case .snapshot(let info, let node):
            guard let child = snapshotChild(info, node, text) else {
                if case .metadata = node { return request.reply(error: .ENOTDIR) }
                if case .file = node { return request.reply(error: .ENOTDIR) }
                return request.reply(error: .ENOENT)
            }
            request.reply(entry: entry(.snapshot(info, child)))
        case .daemonControl, .models, .socketFile, .searchResult, .teamFile:
            request.reply(error: .ENOTDIR)
        }
    }

    public func getattr(_ request: consuming Request, inode: Inode) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        request.reply(attributes: attributes(node), timeout: attributeTimeout(node))
    }

    public func setattr(_ request: consuming Request, inode: Inode, changes: SetAttributes, handle: AnyObject?) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        let caller = request.context
        let ownershipChange = changes.mode != nil || changes.uid != nil || changes.gid != nil
        switch node {
        case .socketDirectory(let socket):
            if ownershipChange {
                let info = socket.info
                guard caller.uid == 0 || caller.uid == info.uid else { return request.reply(error: .EPERM) }
                if (changes.uid.map { $0 != info.uid } ?? false) && caller.uid != 0 { return request.reply(error: .EPERM) }
                // As chgrp: an owner who is not root may only give the socket to their own group.
                if let gid = changes.gid, gid != info.gid, caller.uid != 0, gid != caller.gid { return request.reply(error: .EPERM) }
                if let cluster = environment.cluster {
                    if changes.size != nil { return request.reply(error: .EISDIR) }
                    let pending = PendingRequest(request, interruptible: false)
                    cluster.post(.ownership(socket: socket.id, mode: changes.mode.map { $0 & 0o7777 }, uid: changes.uid, gid: changes.gid)) { [self] result in
                        guard let request = pending.take() else { return }
                        if let error = Self.errno(of: result) { return request.reply(error: error) }
                        let node = Node.socketDirectory(socket)
                        request.reply(attributes: attributes(node), timeout: attributeTimeout(node))
                    }
                    return
                }
                socket.setOwnership(mode: changes.mode, uid: changes.uid, gid: changes.gid)
            }
            if changes.size != nil { return request.reply(error: .EISDIR) }
        case .socketFile(let socket, let file):
            if ownershipChange { return request.reply(error: .EPERM) }
            if let size = changes.size {
                switch file {
                case .input, .ctl, .chat:
                    break  // O_TRUNC-style truncation of a write-only file means nothing
                case .prompt:
                    if let promptFile = handle as? PromptFile {
                        promptFile.buffer = Self.resized(promptFile.buffer, to: size)
                        promptFile.dirty = true
                    } else if let cluster = environment.cluster {
                        let bytes = Self.resized(socket.prompt, to: size)
                        let pending = PendingRequest(request, interruptible: false)
                        cluster.post(.prompt(socket: socket.id, bytes: bytes)) { [self] result in
                            guard let request = pending.take() else { return }
                            if let error = Self.errno(of: result) { return request.reply(error: error) }
                            let node = Node.socketFile(socket, .prompt)
                            request.reply(attributes: attributes(node), timeout: attributeTimeout(node))
                        }
                        return
                    } else {
                        do { try socket.setPrompt(Self.resized(socket.prompt, to: size)) } catch { return request.reply(error: error.errno) }
                    }
                case .output, .error, .transcript:
                    return request.reply(error: .EPERM)
                }
            }
        case .snapshot:
            return request.reply(error: .EROFS)
        case .teamFile(let file):
            if ownershipChange { return request.reply(error: .EPERM) }
            if changes.size != nil, !file.writable { return request.reply(error: .EPERM) }
        case .root, .teamChat, .memory, .memorySearch, .snapshots, .daemonControl, .models, .searchResult:
            if ownershipChange { return request.reply(error: .EPERM) }
            if changes.size != nil {
                if case .daemonControl = node {} else { return request.reply(error: .EPERM) }
            }
        }
        request.reply(attributes: attributes(node), timeout: attributeTimeout(node))
    }

    static func resized(_ bytes: [UInt8], to size: UInt64) -> [UInt8] {
        let size = Int(clamping: size)
        if size <= bytes.count { return Array(bytes[..<size]) }
        return bytes + [UInt8](repeating: 0, count: size - bytes.count)
    }

    // MARK: Directories

    public func mkdir(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        guard case .root = parentNode else {
            if case .socketFile = parentNode { return request.reply(error: .ENOTDIR) }
            if case .teamFile = parentNode { return request.reply(error: .ENOTDIR) }
            if case .snapshots = parentNode { return makeSnapshot(request, name: name) }
            if case .snapshot = parentNode { return request.reply(error: .EROFS) }
            return request.reply(error: .EPERM)
        }
        if let text = name.string, RootEntry(rawValue: text) != nil { return request.reply(error: .EEXIST) }
        let caller = request.context
        var permissions = mode & 0o777
        if permissions == 0 { permissions = 0o755 }
        if let cluster = environment.cluster {
            if let problem = SocketName.problem(with: name) {
                _ = problem
                return request.reply(error: .EINVAL)
            }
            guard let text = name.string else { return request.reply(error: .EINVAL) }
            if registry.socket(named: text) != nil { return request.reply(error: .EEXIST) }
            let pending = PendingRequest(request, interruptible: false)
            cluster.post(.create(name: text, model: nil, uid: caller.uid, gid: caller.gid, mode: permissions)) { [self] result in
                guard let request = pending.take() else { return }
                if case .created(let id) = result, let socket = registry.socket(id: id) {
                    request.reply(entry: entry(.socketDirectory(socket)))
                } else {
                    request.reply(error: Self.errno(of: result) ?? .EIO)
                }
            }
            return
        }
        do {
            let socket = try registry.create(name: name, uid: caller.uid, gid: caller.gid, mode: permissions)
            request.reply(entry: entry(.socketDirectory(socket)))
        } catch {
            request.reply(error: error.errno)
        }
    }

    public func rmdir(_ request: consuming Request, parent: Inode, name: FileName) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        guard let text = name.string else { return request.reply(error: .ENOENT) }
        switch parentNode {
        case .root:
            if let fixed = RootEntry(rawValue: text) {
                return request.reply(error: fixed.kind == .directory ? .EPERM : .ENOTDIR)
            }
            guard let socket = registry.socket(named: text) else { return request.reply(error: .ENOENT) }
            let caller = Caller(uid: request.context.uid, gid: request.context.gid)
            guard socket.isOwned(by: caller, daemonUID: identity.uid) else {
                socket.reportError(kind: "rmdir", "uid \(caller.uid) may not remove this socket (only its owner or root)")
                return request.reply(error: .EPERM)
            }
            // Undo is possible: queued before the removal, the snapshot holds the socket.
            if let cluster = environment.cluster {
                if snapshots.isAvailable { cluster.post(.snapshot(name: snapshots.automaticName(.beforeRmdir), trigger: "before-rmdir")) }
                return answerLater(request) { done in cluster.post(.remove(name: text)) { done(Self.errno(of: $0)) } }
            }
            snapshots.take(nil, trigger: .beforeRmdir)
            do {
                try registry.remove(name: text)
                request.replyOK()
            } catch {
                request.reply(error: error.errno)
            }
        case .socketDirectory:
            request.reply(error: SocketFile(name: text) != nil ? .ENOTDIR : .ENOENT)
        case .memory:
            request.reply(error: text == "search" ? .EPERM : .ENOENT)
        case .memorySearch:
            request.reply(error: .ENOTDIR)  // every name there is a (read-only) file
        case .teamChat:
            request.reply(error: TeamFile(name: text) != nil ? .ENOTDIR : .ENOENT)
        case .snapshots:
            if let cluster = environment.cluster {
                guard snapshots.snapshot(named: text) != nil else { return request.reply(error: .ENOENT) }
                return answerLater(request) { done in cluster.post(.snapshotDelete(name: text)) { done(Self.errno(of: $0)) } }
            }
            do {
                try snapshots.delete(text)
                request.replyOK()
            } catch {
                request.reply(error: error.errno)
            }
        case .snapshot(let info, let node):
            // Inner directories of a snapshot "go" without effect, so rm -r reaches the snapshot.
            guard let child = snapshotChild(info, node, text) else { return request.reply(error: .ENOENT) }
            switch child {
            case .sockets, .socket: request.replyOK()
            default: request.reply(error: .ENOTDIR)
            }
        case .daemonControl, .models, .socketFile, .searchResult, .teamFile:
            request.reply(error: .ENOTDIR)
        }
    }

    public func unlink(_ request: consuming Request, parent: Inode, name: FileName) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        guard let text = name.string else { return request.reply(error: .ENOENT) }
        switch parentNode {
        case .socketDirectory:
            // Files of a socket cannot be deleted; unlinking them succeeds and does nothing so
            // that `rm -r` reaches the rmdir.
            if SocketFile(name: text) != nil { request.replyOK() } else { request.reply(error: .ENOENT) }
        case .snapshot(let info, let node):
            guard let child = snapshotChild(info, node, text) else { return request.reply(error: .ENOENT) }
            switch child {
            case .metadata, .file: request.replyOK()  // as in a socket: rm -r goes on
            default: request.reply(error: .EISDIR)
            }
        case .snapshots:
            request.reply(error: snapshots.snapshot(named: text) != nil ? .EISDIR : .ENOENT)
        case .teamChat:
            // As in a socket: so that `rm -r team-chat-all` reaches its rmdir (EPERM).
            if TeamFile(name: text) != nil { request.replyOK() } else { request.reply(error: .ENOENT) }
        case .memorySearch:
            request.reply(error: .EPERM)  // search results cannot be deleted
        case .root:
            if let fixed = RootEntry(rawValue: text) { return request.reply(error: fixed.kind == .directory ? .EISDIR : .EPERM) }
            request.reply(error: registry.socket(named: text) != nil ? .EISDIR : .ENOENT)
        default:
            request.reply(error: .ENOENT)
        }
    }

    public func rename(_ request: consuming Request, parent: Inode, name: FileName, newParent: Inode, newName: FileName, flags: UInt32) {
        guard let parentNode = node(parent), node(newParent) != nil else { return request.reply(error: .ENOENT) }
        guard let oldText = name.string else { return request.reply(error: .ENOENT) }
        let renameExchange: UInt32 = 2
        if flags & renameExchange != 0 { return request.reply(error: .EINVAL) }
        guard case .root = parentNode else {
            if case .socketDirectory = parentNode { return request.reply(error: .EPERM) }
            return request.reply(error: .EPERM)
        }
        if RootEntry(rawValue: oldText) != nil { return request.reply(error: .EPERM) }
        guard newParent == InodeScheme.root else { return request.reply(error: .EXDEV) }
        if let newText = newName.string, RootEntry(rawValue: newText) != nil { return request.reply(error: .EINVAL) }
        if let cluster = environment.cluster {
            if SocketName.problem(with: newName) != nil { return request.reply(error: .EINVAL) }
            guard let newText = newName.string else { return request.reply(error: .EINVAL) }
            return answerLater(request) { done in cluster.post(.rename(from: oldText, to: newText)) { done(Self.errno(of: $0)) } }
        }
        do {
            try registry.rename(from: oldText, to: newName)
            request.replyOK()
        } catch {
            request.reply(error: error.errno)
        }
    }

    public func create(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32, info: FileInfo) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        if case .socketFile = parentNode { return request.reply(error: .ENOTDIR) }
        if case .teamFile = parentNode { return request.reply(error: .ENOTDIR) }
        if case .snapshot = parentNode { return request.reply(error: .EROFS) }
        if case .snapshots = parentNode { return request.reply(error: .EROFS) }
        // Only the fixed files exist; nothing can be created (they are found by lookup first).
        request.reply(error: .EPERM)
    }

    public func opendir(_ request: consuming Request, inode: Inode, info: FileInfo) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        var entries = [DirectoryEntry(name: ".", inode: inode, kind: .directory)]
        switch node {
        case .root:
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.root, kind: .directory))
            for fixed in RootEntry.allCases { entries.append(DirectoryEntry(name: fixed.rawValue, inode: fixed.inode, kind: fixed.kind)) }
            for socket in registry.all() {
                entries.append(DirectoryEntry(name: socket.name, inode: InodeScheme.inode(socket: socket.id, file: nil), kind: .directory))
            }
        case .socketDirectory(let socket):
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.root, kind: .directory))
            for file in SocketFile.allCases {
                entries.append(DirectoryEntry(name: file.name, inode: InodeScheme.inode(socket: socket.id, file: file), kind: .regular))
            }
        case .memory:
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.root, kind: .directory))
            entries.append(DirectoryEntry(name: "search", inode: InodeScheme.memorySearch, kind: .directory))
        case .memorySearch:
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.memory, kind: .directory))
        case .teamChat:
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.root, kind: .directory))
            for file in TeamFile.allCases {
                entries.append(DirectoryEntry(name: file.name, inode: InodeScheme.inode(team: file), kind: .regular))
            }
        case .snapshots:
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.root, kind: .directory))
            for info in snapshots.list() {
                entries.append(DirectoryEntry(name: info.name, inode: SnapshotNode.inode(snapshot: info.id, .root), kind: .directory))
            }
        case .snapshot(let info, let node):
            guard let listing = snapshotListing(info, node, inode: inode) else { return request.reply(error: .ENOTDIR) }
            entries = listing
        case .daemonControl, .models, .socketFile, .searchResult, .teamFile:
            return request.reply(error: .ENOTDIR)
        }
        request.reply(open: DirectoryListing(entries: entries))
    }

    public func readdir(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64) {
        guard let listing = handle as? DirectoryListing else { return request.reply(error: .EBADF) }
        request.reply(directory: listing.entries, offset: Int(clamping: offset), maxSize: size)
    }

    /// The listing with each entry's attributes, so `ls -l` of 10,000 sockets needs no lookup
    /// per socket. An entry that is gone by now (a socket removed meanwhile) is listed without.
    public func readdirplus(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64) {
        guard let listing = handle as? DirectoryListing else { return request.reply(error: .EBADF) }
        let start = max(0, Int(clamping: offset))
        // Attributes only for the part that can fit this reply (the rest come in the next call).
        let window = listing.entries.count - start > 0 ? min(listing.entries.count, start + size / 64 + 1) : start
        var entries: [(entry: DirectoryEntry, attributes: Entry?)] = listing.entries.map { ($0, nil) }
        for index in start..<window where entries[index].entry.name != "." && entries[index].entry.name != ".." {
            entries[index].attributes = node(entries[index].entry.inode).map(entry)
        }
        request.reply(directoryPlus: entries, offset: start, maxSize: size)
    }

    public func statfs(_ request: consuming Request, inode: Inode) {
        let limit = UInt64(environment.limits.maxSockets)
        let used = UInt64(registry.count)
        request.reply(statistics: FilesystemStatistics(files: used, freeFiles: limit > used ? limit - used : 0,
                                                       maxNameLength: UInt(SocketName.maxLength)))
    }

    // MARK: Files

    public func open(_ request: consuming Request, inode: Inode, info: FileInfo) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        let mode = info.accessMode
        let wantsRead = mode == O_RDONLY || mode == O_RDWR
        let wantsWrite = mode == O_WRONLY || mode == O_RDWR
        switch node {
        case .daemonControl:
            request.reply(open: ControlFile(socket: nil, text: daemonControlText()), options: [.directIO])
        case .models:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: ControlFile(socket: nil, text: modelsText()), options: [.directIO])
        case .socketFile(let socket, let file):
            if (wantsRead && !file.readable) || (wantsWrite && !file.writable) { return request.reply(error: .EACCES) }
            switch file {
            case .input:
                do { try socket.checkAcceptsInput() } catch { return request.reply(error: error.errno) }
                request.reply(open: InputFile(socket: socket, uid: request.context.uid), options: [.directIO, .nonSeekable])
            case .output:
                request.reply(open: OutputFile(socket: socket), options: [.directIO, .nonSeekable])
            case .error:
                request.reply(open: ErrorFile(socket: socket), options: [.directIO, .nonSeekable])
            case .ctl:
                let caller = request.context
                request.reply(open: ControlFile(socket: socket, text: socket.controlText(), caller: (caller.uid, caller.gid)),
                              options: [.directIO])
            case .prompt:
                request.reply(open: PromptFile(socket: socket, truncate: info.isTruncate && wantsWrite), options: [.directIO])
            case .transcript:
                request.reply(open: TranscriptFile(socket: socket))
            case .chat:
                do { try socket.checkAcceptsInput() } catch { return request.reply(error: error.errno) }
                request.reply(open: ChatFile(socket: socket, uid: request.context.uid, send: chatSender(socket)), options: [.directIO, .nonSeekable])
            }
        case .searchResult(_, let query):
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            openSearch(request, query: query)
        case .snapshot(let info, let node):
            openSnapshotFile(request, info, node, wantsWrite: wantsWrite)
        case .teamFile(let file):
            if (wantsRead && !file.readable) || (wantsWrite && !file.writable) { return request.reply(error: .EACCES) }
            switch file {
            case .input: request.reply(open: TeamInputFile(caller: Caller(uid: request.context.uid, gid: request.context.gid)), options: [.directIO, .nonSeekable])
            case .output: request.reply(open: TeamOutputFile(), options: [.directIO, .nonSeekable])
            case .error: request.reply(open: TeamErrorFile(), options: [.directIO, .nonSeekable])
            case .ctl: request.reply(open: TeamControlFile(text: registry.team.controlText()), options: [.directIO])
            }
        default:
            request.reply(error: .EISDIR)
        }
    }

    /// Runs the query off the loop thread; the open is answered (or interrupted) meanwhile.
    /// A user sees only hits of sockets they may read (and of `team-chat-all` and `snapshots`,
    /// which every user of the mount shares); hits of removed sockets only root and the daemon's
    /// user see.
    private func openSearch(_ request: consuming Request, query: String) {
        let caller = Caller(uid: request.context.uid, gid: request.context.gid)
        let privileged = caller.isRoot || caller.uid == identity.uid
        let pending = PendingRequest(request, interruptible: true)
        environment.store.search(query, limit: privileged ? Self.searchLimit : Self.searchLimit * 5) { [self] result in
            guard let request = pending.take() else { return }
            let file: SearchResultFile
            switch result {
            case .success(var hits):
                if !privileged {
                    hits = hits.filter { hit in
                        if hit.socket == "team-chat-all" || hit.socket == "snapshots" { return true }
                        return registry.socket(named: hit.socket)?.allows(.read, caller) ?? false
                    }
                }
                file = SearchResultFile(text: hits.prefix(Self.searchLimit).map { $0.line + "\n" }.joined(), failed: false)
            case .failure(let error):
                file = SearchResultFile(text: "aifs: \(error.message)\n", failed: true)
            }
            request.reply(open: file, options: [.directIO])
        }
    }

    public func read(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64, info: FileInfo) {
        switch handle {
        case let file as OutputFile:
            file.socket.readOutput(request, size: size, nonBlocking: info.isNonBlocking)
        case let file as ErrorFile:
            request.reply(bytes: file.socket.readErrors(max: size))
        case let file as TranscriptFile:
            request.reply(bytes: file.socket.readTranscript(offset: Int(clamping: offset), size: size))
        case let file as ControlFile:
            request.reply(bytes: file.text.slice(offset: offset, size: size))
        case let file as PromptFile:
            request.reply(bytes: file.buffer.slice(offset: offset, size: size))
        case let file as ChatFile:
            if let error = file.sendIfNeeded() { return request.reply(error: error) }
            file.stream.read(request, size: size, nonBlocking: info.isNonBlocking)
        case let file as SnapshotContentFile:
            request.reply(bytes: file.bytes.slice(offset: offset, size: size))
        case is TeamOutputFile:
            registry.team.readOutput(request, size: size, nonBlocking: info.isNonBlocking)
        case is TeamErrorFile:
            request.reply(bytes: registry.team.readErrors(max: size))
        case let file as TeamControlFile:
            request.reply(bytes: file.text.slice(offset: offset, size: size))
        case let file as SearchResultFile:
            if file.failed, offset >= file.text.count { return request.reply(error: .EINVAL) }
            request.reply(bytes: file.text.slice(offset: offset, size: size))
        default:
            request.reply(error: .EBADF)
        }
    }

    public func write(_ request: consuming Request, inode: Inode, handle: AnyObject?, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        switch handle {
        case let file as InputFile:
            writeInput(request, file, data)
        case let file as ControlFile:
            writeControl(request, file, data)
        case let file as TeamInputFile:
            writeTeamInput(request, file, data)
        case let file as TeamControlFile:
            writeTeamControl(request, file, data)
        case let file as ChatFile:
            guard !file.sent else { return request.reply(error: .EINVAL) }  // one exchange per descriptor
            guard file.buffer.count + data.count <= environment.limits.maxMessageBytes else {
                file.socket.reportError(kind: "chat", "message over \(environment.limits.maxMessageBytes) bytes refused")
                return request.reply(error: .EFBIG)
            }
            file.buffer.append(contentsOf: data)
            request.reply(written: data.count)
        case let file as PromptFile:
            let start = info.isAppend ? file.buffer.count : Int(clamping: offset)
            let end = start + data.count
            guard end <= environment.limits.maxPromptBytes else {
                file.socket.reportError(kind: "prompt", "prompt over \(environment.limits.maxPromptBytes) bytes refused")
                return request.reply(error: .EFBIG)
            }
            if file.buffer.count < end { file.buffer += [UInt8](repeating: 0, count: end - file.buffer.count) }
            file.buffer.replaceSubrange(start..<end, with: data)
            file.dirty = true
            request.reply(written: data.count)
        default:
            request.reply(error: .EBADF)
        }
    }

    private func writeInput(_ request: consuming Request, _ file: InputFile, _ data: UnsafeRawBufferPointer) {
        if let failure = file.failure { return request.reply(error: failure) }
        let limit = environment.limits.maxMessageBytes
        if file.overflows(adding: data.count, limit: limit) {
            file.socket.reportError(kind: "input", "message over \(limit) bytes refused (EFBIG); nothing was queued")
            return request.reply(error: .EFBIG)
        }
        if file.buffer.isEmpty {
            do { try file.socket.checkQueueRoom() } catch { return request.reply(error: error.errno) }
        }
        file.buffer.append(contentsOf: data)
        request.reply(written: data.count)
    }

    private func writeControl(_ request: consuming Request, _ file: ControlFile, _ data: UnsafeRawBufferPointer) {
        switch Self.completeLines(&file.pending, adding: data, limit: environment.limits.maxControlBytes) {
        case .overLimit:
            file.socket?.reportRefused(ControlError("ctl write over \(environment.limits.maxControlBytes) bytes"))
            request.reply(error: .EINVAL)
        case .none:
            request.reply(written: data.count)
        case .lines(let complete):
            runControl(complete, file: file, request: request, success: .written(data.count))
        }
    }

    /// What a write to a ctl file leaves to apply now.
    enum CompleteLines {
        case overLimit
        case none
        case lines([UInt8])
    }

    /// Adds `data` to a ctl descriptor's pending bytes and takes every complete line, so a bad
    /// command fails this very write (what `echo` sees); a partial last line waits for more (or
    /// for close). Over `limit` pending bytes everything pending is dropped.
    static func completeLines(_ pending: inout [UInt8], adding data: UnsafeRawBufferPointer, limit: Int) -> CompleteLines {
        pending.append(contentsOf: data)
        if pending.count > limit {
            pending = []
            return .overLimit
        }
        guard let lastNewline = pending.lastIndex(of: 0x0A) else { return .none }
        let complete = Array(pending[...lastNewline])
        pending.removeFirst(lastNewline + 1)
        return .lines(complete)
    }

    /// What a successful ctl write or close answers.
    enum ControlSuccess {
        case written(Int)
        case ok
        func reply(_ request: consuming Request) {
            switch self {
            case .written(let count): request.reply(written: count)
            case .ok: request.replyOK()
            }
        }
    }

    /// Work a ctl command finishes later (a snapshot, a restore): call with the completion.
    typealias Deferred = (@escaping @Sendable (Errno?) -> Void) -> Void

    /// Applies ctl text and answers `request`: at once, or, when a command has to wait for the
    /// store (snapshot, restore), once it is done; the loop thread never waits.
    private func runControl(_ bytes: [UInt8], file: ControlFile, request: consuming Request, success: ControlSuccess) {
        let deferred: Deferred?
        do {
            deferred = try applyControl(bytes, to: file)
        } catch {
            return request.reply(error: error)
        }
        guard let deferred else { return success.reply(request) }
        let pending = PendingRequest(request, interruptible: false)
        deferred { error in
            guard let request = pending.take() else { return }
            if let error { request.reply(error: error) } else { success.reply(request) }
        }
    }

    /// Parses and applies ctl text, all or nothing; the reason of a refusal goes to `error`.
    /// Returns the part that finishes later, if any.
    private func applyControl(_ bytes: [UInt8], to file: ControlFile) throws(Errno) -> Deferred? {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let error = ControlError("ctl text is not valid UTF-8")
            if let socket = file.socket { socket.reportRefused(error) } else { noteDaemonError(error.reason) }
            throw error.errno
        }
        let caller = Caller(uid: file.caller.uid, gid: file.caller.gid)
        guard let cluster = environment.cluster else {
            if let socket = file.socket { return try applySocketControl(text, socket: socket, caller: caller) }
            return try applyDaemonControl(text)
        }
        // With the Redis backend the text is checked here, then applied by every daemon in log
        // order; the write is answered once it has been applied here.
        if let socket = file.socket {
            do {
                _ = try ControlCommand.parseLines(text, maxLine: environment.limits.maxControlLine)
            } catch {
                socket.reportRefused(error)
                throw error.errno
            }
            let id = socket.id
            return { done in
                cluster.post(.control(socket: id, text: text, uid: caller.uid, gid: caller.gid)) { done(Self.errno(of: $0)) }
            }
        }
        let commands = try parseDaemonControl(text)
        if commands.contains(.reload) {
            do {
                try environment.reload()  // this daemon's own configuration
            } catch {
                noteDaemonError("reload: \(error.reason)")
                throw error.errno
            }
        }
        let shared = text.split(separator: "\n").filter { $0.trimmingSpaces() != "reload" }.joined(separator: "\n")
        guard commands.contains(where: { $0 != .reload }) else { return nil }
        return { done in
            cluster.post(.daemonControl(text: shared, uid: caller.uid, gid: caller.gid)) { done(Self.errno(of: $0)) }
        }
    }

    /// A message from `input`: committed here, or with the Redis backend logged and applied by
    /// every daemon (`done` once applied here).
    func submit(_ bytes: [UInt8], to socket: Socket, uid: UInt32, done: @escaping @Sendable (Errno?) -> Void) {
        guard let cluster = environment.cluster else { return socket.submit(bytes, uid: uid, done: done) }
        let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
        if content.isEmpty {
            socket.reportError(kind: "input", "the message has headers but no content; nothing was queued")
            return done(.EINVAL)
        }
        cluster.post(.submit(socket: socket.id, content: content, priorityHigh: headers.priorityHigh, uid: uid, route: "", kind: "input")) {
            let error = Self.errno(of: $0)
            if error == .EIO, !cluster.isConnected {
                socket.reportError(kind: "store", "redis unreachable (\(cluster.lastError)); the message was not stored, send it again")
            }
            done(error)
        }
    }

    /// With the Redis backend a chat message goes through the log; its reply comes back to
    /// this daemon's descriptor (by token). A refusal ends the stream and says so in `error`.
    func chatSender(_ socket: Socket) -> (([UInt8], UInt32, ChatStream) -> Errno?)? {
        guard let cluster = environment.cluster else { return nil }
        return { [self] bytes, uid, stream in
            let (headers, content) = MessageHeaders.parse(bytes, recipients: false)
            if content.isEmpty {
                socket.reportError(kind: "chat", "the message has headers but no content; nothing was sent")
                return .EINVAL
            }
            let token = nextChatToken.withLock { t -> UInt64 in defer { t += 1 }; return t }
            clusterChats.withLock { $0[token] = stream }
            cluster.post(.submit(socket: socket.id, content: content, priorityHigh: headers.priorityHigh, uid: uid,
                                 route: "chat:\(cluster.id):\(token)", kind: "chat")) { [self] result in
                if Self.errno(of: result) != nil {
                    clusterChats.withLock { _ = $0.removeValue(forKey: token) }
                    stream.finish(failed: true)
                }
            }
            return nil
        }
    }

    /// Parks `request` until `work` calls back, then answers OK or the errno.
    func answerLater(_ request: consuming Request, _ work: (@escaping @Sendable (Errno?) -> Void) -> Void) {
        let pending = PendingRequest(request, interruptible: false)
        work { error in
            guard let request = pending.take() else { return }
            if let error { request.reply(error: error) } else { request.replyOK() }
        }
    }

    static func errno(of result: ClusterResult) -> Errno? {
        if case .done(let error) = result { return error }
        return nil
    }

    /// `/ai/ctl` commands, parsed and run here.
    func applyDaemonControl(_ text: String) throws(Errno) -> Deferred? {
        let commands = try parseDaemonControl(text)
        return { [self] done in runDaemon(commands[...], done: done) }
    }

    /// `/ai/ctl` text as commands; a refusal becomes the `error:` line of `/ai/ctl`.
    private func parseDaemonControl(_ text: String) throws(Errno) -> [DaemonCommand] {
        do {
            return try DaemonCommand.parseLines(text, maxLine: environment.limits.maxControlLine)
        } catch {
            noteDaemonError(error.reason)
            throw error.errno
        }
    }

    /// A socket's ctl commands, parsed, checked all first and applied here (all or nothing);
    /// the reason of a refusal goes to `error`. Returns the part that finishes later (restore).
    func applySocketControl(_ text: String, socket: Socket, caller: Caller) throws(Errno) -> Deferred? {
        do {
            let commands = try ControlCommand.parseLines(text, maxLine: environment.limits.maxControlLine)
            // A fork is checked before anything is applied (all or nothing), made after.
            let forks = commands.compactMap { if case .fork(let name) = $0 { return name } else { return nil } }
            for name in forks where registry.socket(named: name) != nil || RootEntry(rawValue: name) != nil {
                throw ControlError("fork: socket '\(name)' exists")
            }
            // Only the owner (or root, or the daemon's user) may reset or restore a socket.
            for command in commands where !socket.isOwned(by: caller, daemonUID: identity.uid) {
                if command == .reset { throw SocketError(.EPERM, "reset: only the socket's owner or root may reset it") }
                if case .restore = command { throw SocketError(.EPERM, "restore: only the socket's owner or root may restore it") }
            }
            // A wire is checked before anything is applied too (ENOENT, ELOOP, and EACCES when
            // the caller may not write to the target's input), made after.
            for command in commands {
                guard case .wire(let name) = command else { continue }
                try registry.checkWire(socket, to: name)
                if let target = registry.socket(named: name), !target.allows(.write, caller) {
                    throw SocketError(.EACCES, "wire: uid \(caller.uid) may not write to \(name)'s input")
                }
            }
            // So is a restore (ENOENT); it runs last, and the write is answered when it is done.
            let restores = commands.compactMap { if case .restore(let name) = $0 { return name } else { return nil } }
            if restores.count > 1 { throw ControlError("one restore per write") }
            if let name = restores.first { try checkRestore(name, socket: socket) }
            if commands.contains(.reset) { snapshots.take(nil, trigger: .beforeReset) }
            try socket.apply(commands)
            for command in commands {
                switch command {
                case .wire(let name): try registry.wire(socket, to: name)
                case .unwire: registry.unwire(socket)
                default: break
                }
            }
            for name in forks {
                let copy = try registry.fork(socket, to: name, uid: caller.uid, gid: caller.gid)
                invalidator?.invalidateEntry(parent: InodeScheme.root, name: name)
                environment.cluster?.claimIfOrigin(copy.id)
            }
            guard let name = restores.first else { return nil }
            return { [self] done in
                snapshots.restore(name, socket: socket) { failure in
                    if let failure { socket.reportError(kind: "ctl", "restore: \(failure.reason)") }
                    done(failure?.errno)
                }
            }
        } catch let error as ControlError {
            socket.reportRefused(error)
            throw error.errno
        } catch let error as SocketError {
            socket.reportError(kind: "ctl", error.reason)
            throw error.errno
        } catch {
            throw error.asErrno
        }
    }

    /// Whether `restore NAME` on `socket` can run: the snapshot exists and holds that socket.
    private func checkRestore(_ name: String, socket: Socket) throws(SocketError) {
        guard snapshots.isAvailable else { throw SocketError(.ENOTSUP, "restore: snapshots need the durable store") }
        guard let info = snapshots.snapshot(named: name) else { throw SocketError(.ENOENT, "restore: no snapshot '\(name)'") }
        guard info.sockets.contains(where: { $0.name == socket.name }) else {
            throw SocketError(.ENOENT, "restore: snapshot '\(name)' has no socket '\(socket.name)'")
        }
    }

    /// Runs `/ai/ctl` commands in order, stopping at the first failure (its reason shows as the
    /// `error:` line of `/ai/ctl`); snapshots and restores wait for the store.
    func runDaemon(_ commands: ArraySlice<DaemonCommand>, done: @escaping @Sendable (Errno?) -> Void) {
        guard let command = commands.first else { return done(nil) }
        let rest = commands.dropFirst()
        let next: @Sendable (SnapshotFailure?) -> Void = { [self] failure in
            if let failure {
                noteDaemonError(failure.reason)
                return done(failure.errno)
            }
            runDaemon(rest, done: done)
        }
        switch command {
        case .create(let name, let model):
            do {
                let socket = try registry.create(name: FileName(name), model: model, uid: identity.uid, gid: identity.gid, mode: 0o755)
                invalidator?.invalidateEntry(parent: InodeScheme.root, name: name)
                environment.cluster?.claimIfOrigin(socket.id)
                next(nil)
            } catch {
                next(SnapshotFailure(error.errno, "create \(name): \(error.reason)"))
            }
        case .reload:
            do {
                try environment.reload()
                next(nil)
            } catch {
                next(SnapshotFailure(error.errno, "reload: \(error.reason)"))
            }
        case .snapshot(let name):
            snapshots.take(name, trigger: .manual) { result in
                if case .failure(let failure) = result { next(SnapshotFailure(failure.errno, "snapshot: \(failure.reason)")) } else { next(nil) }
            }
        case .restore(let name):
            snapshots.restore(name, socket: nil) { failure in
                next(failure.map { SnapshotFailure($0.errno, "restore: \($0.reason)") })
            }
        }
    }

    /// The last refused `/ai/ctl` command, shown as its `error:` line.
    func noteDaemonError(_ reason: String) {
        daemonError.withLock { $0 = "\(WallClock.iso8601(WallClock.now())) \(reason)" }
    }

    public func flush(_ request: consuming Request, inode: Inode, handle: AnyObject?) {
        switch handle {
        case let file as ChatFile:
            // A message still unsent goes now; a closing writer-only descriptor has no reader.
            guard !file.sent, !file.buffer.isEmpty else { return request.replyOK() }
            if let error = file.sendIfNeeded() { return request.reply(error: error) }
            request.replyOK()
        case let file as InputFile:
            if let failure = file.failure { return request.reply(error: failure) }
            guard !file.buffer.isEmpty else { return request.replyOK() }
            let message = file.buffer
            file.buffer = []
            // close() returns only once the message is committed; the loop thread moves on.
            let pending = PendingRequest(request, interruptible: false)
            submit(message, to: file.socket, uid: file.uid) { error in
                guard let request = pending.take() else { return }
                if let error { request.reply(error: error) } else { request.replyOK() }
            }
        case let file as TeamInputFile:
            flushTeamInput(request, file)
        case let file as TeamControlFile:
            guard !file.pending.isEmpty else { return request.replyOK() }
            let rest = file.pending
            file.pending = []
            do {
                try applyTeamControl(rest)
                request.replyOK()
            } catch {
                request.reply(error: error)
            }
        case let file as ControlFile:
            guard !file.pending.isEmpty else { return request.replyOK() }
            let rest = file.pending
            file.pending = []
            runControl(rest, file: file, request: request, success: .ok)
        case let file as PromptFile:
            guard file.dirty else { return request.replyOK() }
            if let cluster = environment.cluster {
                guard file.buffer.count <= environment.limits.maxPromptBytes else { return request.reply(error: .EFBIG) }
                file.dirty = false
                let socket = file.socket.id
                let bytes = file.buffer
                return answerLater(request) { done in cluster.post(.prompt(socket: socket, bytes: bytes)) { done(Self.errno(of: $0)) } }
            }
            do {
                try file.socket.setPrompt(file.buffer)
                file.dirty = false
                request.replyOK()
            } catch {
                request.reply(error: error.errno)
            }
        default:
            request.replyOK()
        }
    }

    public func release(_ request: consuming Request, inode: Inode, handle: AnyObject?) {
        switch handle {
        case let file as ChatFile:
            _ = file.sendIfNeeded()
        case let file as InputFile:
            // Bytes no flush committed (e.g. the writer was killed) are still one message.
            if file.failure == nil, !file.buffer.isEmpty {
                submit(file.buffer, to: file.socket, uid: file.uid) { _ in }
                file.buffer = []
            }
        case let file as PromptFile:
            if file.dirty {
                if let cluster = environment.cluster {
                    cluster.post(.prompt(socket: file.socket.id, bytes: file.buffer)) { _ in }
                } else {
                    try? file.socket.setPrompt(file.buffer)
                }
            }
        case let file as OutputFile:
            file.socket.forgetPoll(owner: file)
        case let file as TeamInputFile:
            if file.failure == nil, !file.buffer.isEmpty {
                registry.team.send(file.buffer, caller: file.caller) { _ in }
                file.buffer = []
            }
        case let file as TeamOutputFile:
            registry.team.forgetPoll(owner: file)
        default:
            break
        }
        request.replyOK()
    }

    public func poll(_ request: consuming Request, inode: Inode, handle: AnyObject?, pollHandle: PollHandle?) {
        if let file = handle as? OutputFile {
            return request.reply(poll: file.socket.pollOutput(owner: file, handle: pollHandle))
        }
        if let file = handle as? TeamOutputFile {
            return request.reply(poll: registry.team.pollOutput(owner: file, handle: pollHandle))
        }
        if let file = handle as? ChatFile {
            // Waiting for the reply means the message is complete: send it, as a read would.
            if !file.buffer.isEmpty, let error = file.sendIfNeeded() { return request.reply(error: error) }
            return request.reply(poll: file.stream.poll(owner: file, handle: pollHandle))
        }
        request.reply(poll: [.readable, .writable])
    }

    public func sessionWillStop() {
        registry.shutdownAll()
    }

    // MARK: Generated files

    public func daemonControlText() -> String {
        let counters = environment.counters
        let sockets = registry.all()
        let uptime = Int(WallClock.now() - identity.started)
        var lines = [
            "version: \(identity.version)",
            "uptime: \(uptime)s",
            "mountpoint: \(identity.mountpoint)",
            "store: \(environment.store.location)",
            "store-writes: \(environment.store.statistics.groups) in \(environment.store.statistics.transactions) transactions",
            "pid: \(identity.pid)",
            "sockets: \(sockets.count)",
            "in-flight: \(counters.inFlight)",
            "requests: \(counters.requests)",
            "messages: \(counters.messages)",
            "default-model: \(environment.catalog().defaultModel)",
            "config: \(environment.configStatus)",
        ]
        if let cluster = environment.cluster {
            lines.append("cluster: \(cluster.url) daemon \(cluster.id), \(cluster.isConnected ? "connected" : "unreachable: \(cluster.lastError)")")
            lines.append("cluster-position: \(cluster.position)")
            lines.append("owned: \(sockets.filter { cluster.owns($0.id) }.count)")
        }
        if snapshots.isAvailable { lines.append("snapshots: \(snapshots.list().count)") }
        if let error = daemonError.withLock({ $0 }) { lines.append("error: \(error)") }
        for provider in environment.catalog().providerNames {
            lines.append("provider \(provider): ok")
        }
        // The directory view for discovery: one line per socket.
        for socket in sockets {
            let info = socket.info
            let capabilities = info.settings[.capabilities].map { $0.isEmpty ? "-" : $0 } ?? "-"
            lines.append("socket \(info.name): \(info.model) \(info.state.rawValue) \(capabilities)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func modelsText() -> String {
        environment.catalog().modelIDs.joined(separator: "\n") + "\n"
    }

    var invalidator: (any KernelCacheInvalidator)? {
        invalidatorBox.withLock { $0?.value }
    }
}

/// A sendable box for the invalidator reference.
struct KernelCacheInvalidatorRef: @unchecked Sendable {
    let value: any KernelCacheInvalidator
    init(_ value: any KernelCacheInvalidator) { self.value = value }
}
