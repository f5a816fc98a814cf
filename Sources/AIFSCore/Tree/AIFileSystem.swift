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

/// The aifs tree as a FUSE filesystem: `/ai/{ctl,models,team-chat-all,memory,snapshots,tools,metrics,events,cluster,directory}` and one
/// directory per socket with `input output error ctl prompt transcript chat`.
///
/// It only dispatches. Names and attributes come from the node an inode stands for (``Node``);
/// changes of the namespace are checked and posted as ``Change``s (`Namespace.swift`); `open`
/// makes the open file of the node's kind (`Files/`), and every later request on that
/// descriptor is handed to it. Handlers run on the FUSE loop thread and never block: they read
/// state under short locks and answer at once, or park the request (a read waiting for a
/// reply, a flush waiting for its commit). `docs/file-protocol.md` gives each file's errnos.
public final class AIFileSystem: FileSystem {
    public let registry: SocketRegistry
    public let identity: DaemonIdentity
    /// `/ai/snapshots`, restore and the automatic snapshots.
    public let snapshots: SnapshotManager
    let searchNodes = SearchNodes()
    /// What `sed -i` and editors create next to `prompt` (``ScratchFiles``).
    let scratch = ScratchFiles()
    /// Hits a memory search returns at most.
    public static let searchLimit = 100
    private let invalidatorBox = Mutex<KernelCacheInvalidatorRef?>(nil)
    let daemonError = Mutex<String?>(nil)
    /// Where `[metrics] listen` serves `/metrics` once bound (the `metrics-listen:` line of `/ai/ctl`).
    let metricsEndpoint = Mutex<String?>(nil)

    /// Seconds the kernel may cache names and stable attributes.
    static let entryTimeout = 1.0

    public init(registry: SocketRegistry, identity: DaemonIdentity) {
        self.registry = registry
        self.identity = identity
        snapshots = SnapshotManager(environment: registry.environment, registry: registry)
        registry.applier.setTree(self)
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
    /// Where every change goes.
    var log: any ChangeLog { registry.environment.log }


    public func forget(inode: Inode, lookups: UInt64) {
        if SearchNodes.contains(inode) { searchNodes.forget(inode, lookups: lookups) }
    }

    // MARK: Names

    public func lookup(_ request: consuming Request, parent: Inode, name: FileName) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        guard let text = name.string else {
            // A query that is not UTF-8 is still a name there (never ENOENT); opening it says why.
            guard case .memorySearch = parentNode else { return request.reply(error: .ENOENT) }
            let query = Self.notUTF8Query + String(decoding: name.bytes, as: UTF8.self)
            return request.reply(entry: entry(.searchResult(searchNodes.lookup(query), query: query)))
        }
        switch parentNode {
        case .root:
            if let fixed = RootEntry(rawValue: text), let child = node(fixed.inode) {
                return request.reply(entry: entry(child, caller: Caller(uid: request.context.uid, gid: request.context.gid)))
            }
            guard let socket = registry.socket(named: text) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.socketDirectory(socket)))
        case .memory:
            guard text == "search" else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.memorySearch))
        case .socketDirectory(let socket):
            if let file = SocketFile(name: text), !file.isAgentFile || socket.isAgent {
                return request.reply(entry: entry(.socketFile(socket, file)))
            }
            if text == "pending" { return request.reply(entry: entry(.pendingDirectory(socket))) }
            let caller = Caller(uid: request.context.uid, gid: request.context.gid)
            guard let file = scratch.file(socket: socket.id, name: text, caller: caller) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(.scratch(file, socket)))
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
        case .pendingDirectory(let socket):
            guard let child = lookupPending(socket, text) else { return request.reply(error: .ENOENT) }
            request.reply(entry: entry(child))
        case .daemonControl, .models, .metrics, .events, .cluster, .directory, .socketFile, .searchResult, .teamFile, .scratch, .tools, .pendingCall:
            request.reply(error: .ENOTDIR)
        }
    }

    public func getattr(_ request: consuming Request, inode: Inode) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        request.reply(attributes: attributes(node, caller: Caller(uid: request.context.uid, gid: request.context.gid)),
                      timeout: attributeTimeout(node))
    }

    // MARK: Directories

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
            for file in SocketFile.allCases where !file.isAgentFile || socket.isAgent {
                entries.append(DirectoryEntry(name: file.name, inode: InodeScheme.inode(socket: socket.id, file: file), kind: .regular))
            }
            entries.append(DirectoryEntry(name: "pending", inode: PendingNodes.directory(socket.id), kind: .directory))
            for file in scratch.files(socket: socket.id, caller: Caller(uid: request.context.uid, gid: request.context.gid)) {
                entries.append(DirectoryEntry(name: file.name, inode: file.inode, kind: .regular))
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
        case .pendingDirectory(let socket):
            entries += pendingEntries(socket)
        case .daemonControl, .models, .metrics, .events, .cluster, .directory, .socketFile, .searchResult, .teamFile, .scratch, .tools, .pendingCall:
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
            let caller = Caller(uid: request.context.uid, gid: request.context.gid)
            entries[index].attributes = node(entries[index].entry.inode).map { entry($0, caller: caller) }
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

    /// Makes the open file of the node's kind. `EACCES` (a direction the file does not
    /// have), `EISDIR`, `ENOENT`, `EHOSTDOWN` (`input` or `chat` of an unresponsive socket).
    public func open(_ request: consuming Request, inode: Inode, info: FileInfo) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        let mode = info.accessMode
        let wantsRead = mode == O_RDONLY || mode == O_RDWR
        let wantsWrite = mode == O_WRONLY || mode == O_RDWR
        let caller = Caller(uid: request.context.uid, gid: request.context.gid)
        let limits = environment.limits
        switch node {
        case .daemonControl:
            request.reply(open: ControlFile(target: DaemonControl(fileSystem: self), text: daemonControlText(), caller: caller,
                                            limit: limits.maxControlBytes), options: [.directIO])
        case .models:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            // Once the servers' listings are current (at once while they are fresh; a fetch
            // is bounded by the provider's timeouts, and a signal interrupts the wait).
            let pending = PendingRequest(request, interruptible: true)
            environment.catalog().whenListed { [self] in
                pending.take()?.reply(open: TextFile(text: modelsText()), options: [.directIO])
            }
        case .socketFile(let socket, let file):
            if (wantsRead && !file.readable) || (wantsWrite && !file.writable) { return request.reply(error: .EACCES) }
            switch file {
            case .input:
                do { try socket.checkAcceptsInput() } catch { return request.reply(error: error.errno) }
                request.reply(open: InputFile(sink: socket, caller: caller, limit: limits.maxMessageBytes), options: [.directIO, .nonSeekable])
            case .output:
                request.reply(open: OutputFile(source: socket), options: [.directIO, .nonSeekable])
            case .error:
                request.reply(open: ErrorFile(source: socket), options: [.directIO, .nonSeekable])
            case .ctl:
                // An agent's own processes may not create sockets through it (fork).
                let screen = environment.agents.isAgentProcess(request.context.pid) ? AgentSupervisor.refuseSocketCreation : nil
                let target = ParsedControl.socket(socket, log: log, maxLine: limits.maxControlLine, screen: screen)
                request.reply(open: ControlFile(target: target, text: socket.controlText(), caller: caller, limit: limits.maxControlBytes),
                              options: [.directIO])
            case .prompt:
                request.reply(open: PromptFile(socket: socket, log: log, limit: limits.maxPromptBytes, truncate: info.isTruncate && wantsWrite),
                              options: [.directIO])
            case .transcript:
                request.reply(open: TranscriptFile(socket: socket))
            case .context:
                request.reply(open: TextFile(socket.contextText()), options: [.directIO])
            case .chat:
                do { try socket.checkAcceptsInput() } catch { return request.reply(error: error.errno) }
                request.reply(open: ChatFile(socket: socket, uid: caller.uid, limit: limits.maxMessageBytes), options: [.directIO, .nonSeekable])
            case .inbox, .outbox, .brain, .network:
                openAgentFile(request, socket, file, caller: caller)
            }
        case .scratch(let file, _):
            if info.isTruncate && wantsWrite {
                do { try scratch.truncate(file.inode, to: 0, limit: limits.maxPromptBytes) } catch { return request.reply(error: error) }
            }
            request.reply(open: ScratchFile(files: scratch, inode: file.inode, limit: limits.maxPromptBytes), options: [.directIO])
        case .searchResult(_, let query):
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            openSearch(request, query: query)
        case .snapshot(let info, let node):
            openSnapshotFile(request, info, node, wantsWrite: wantsWrite)
        case .teamFile(let file):
            if (wantsRead && !file.readable) || (wantsWrite && !file.writable) { return request.reply(error: .EACCES) }
            let team = registry.team
            switch file {
            case .input: request.reply(open: InputFile(sink: team, caller: caller, limit: limits.maxMessageBytes), options: [.directIO, .nonSeekable])
            case .output: request.reply(open: OutputFile(source: team), options: [.directIO, .nonSeekable])
            case .error: request.reply(open: ErrorFile(source: team), options: [.directIO, .nonSeekable])
            case .ctl:
                let target = ParsedControl.team(team, log: log, maxLine: limits.maxControlLine)
                request.reply(open: ControlFile(target: target, text: team.controlText(), caller: caller, limit: limits.maxControlBytes),
                              options: [.directIO])
            }
        case .metrics:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: TextFile(text: metricsText()), options: [.directIO])
        case .cluster:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: TextFile(text: clusterText()), options: [.directIO])
        case .directory:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: TextFile(AgentDirectory.text(sockets: registry.all(), agents: environment.agents, caller: caller)),
                          options: [.directIO])
        case .events:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: EventsFile(events: environment.events, caller: caller), options: [.directIO])
        case .tools:
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: TextFile(environment.toolSetup.listing), options: [.directIO])
        case .pendingCall(_, let call):
            guard !wantsWrite else { return request.reply(error: .EACCES) }
            request.reply(open: TextFile(text: call.text), options: [.directIO])
        case .root, .teamChat, .memory, .memorySearch, .snapshots, .socketDirectory, .pendingDirectory:
            request.reply(error: .EISDIR)
        }
    }

    public func read(_ request: consuming Request, inode: Inode, handle: AnyObject?, size: Int, offset: Int64, info: FileInfo) {
        guard let file = handle as? OpenFile else { return request.reply(error: .EBADF) }
        file.read(request, size: size, offset: offset, info: info)
    }

    public func write(_ request: consuming Request, inode: Inode, handle: AnyObject?, data: UnsafeRawBufferPointer, offset: Int64, info: FileInfo) {
        guard let file = handle as? OpenFile else { return request.reply(error: .EBADF) }
        InlineWork.begin()
        file.write(request, data: data, offset: offset, info: info)
        InlineWork.end()
    }

    public func flush(_ request: consuming Request, inode: Inode, handle: AnyObject?) {
        guard let file = handle as? OpenFile else { return request.replyOK() }
        // Work the flush starts (the echo model's reply) runs right after it has answered.
        InlineWork.begin()
        file.flush(request)
        InlineWork.end()
    }

    public func release(_ request: consuming Request, inode: Inode, handle: AnyObject?) {
        InlineWork.begin()
        (handle as? OpenFile)?.release()
        request.replyOK()
        InlineWork.end()
    }

    public func poll(_ request: consuming Request, inode: Inode, handle: AnyObject?, pollHandle: PollHandle?) {
        guard let file = handle as? OpenFile else { return request.reply(poll: [.readable, .writable]) }
        file.poll(request, handle: pollHandle)
    }

    public func sessionWillStop() {
        registry.shutdownAll()
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
