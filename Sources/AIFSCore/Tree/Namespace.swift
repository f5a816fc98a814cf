import FuseKit

/// Changes of the namespace: `mkdir`, `rmdir`, `unlink`, `rename`, `create` and `setattr`.
///
/// Each handler checks what it can (the parent, reserved names, the caller's rights) and then
/// posts a ``Change``; the request is answered once the change has been applied here (at once
/// with one daemon, after the round trip through the shared log with many). Nothing here
/// mutates state itself.
///
/// - `mkdir /ai/NAME`: `EEXIST`, `EINVAL` (bad name or model), `ENOSPC` (`[limits] sockets`);
///   `mkdir /ai/snapshots/NAME`: see ``makeSnapshot(_:name:)``; elsewhere `EPERM`, `ENOTDIR`,
///   `EROFS` (inside a snapshot).
/// - `rmdir /ai/NAME`: `ENOENT`, `EPERM` (a fixed directory, or not the socket's owner);
///   a `before-rmdir` snapshot is taken first. `ENOTDIR` on a file.
/// - `unlink`: a socket's files "go" without effect so `rm -r` reaches the `rmdir`; `EISDIR`
///   on a directory, `EPERM` on `/ai/ctl`, `/ai/models` and search results.
/// - `rename`: sockets in the root: `EPERM` (fixed names), `EINVAL` (onto a fixed name,
///   bad name, `RENAME_EXCHANGE`), `EXDEV` (out of the root), `EEXIST`, `ENOENT`; scratch
///   files in a socket directory (`AIFileSystem+Scratch.swift`).
/// - `create`: scratch files in a socket directory; elsewhere `EPERM`, `ENOTDIR`, `EROFS`.
/// - `setattr`: chmod/chown of a socket directory by its owner or root (`EPERM` otherwise, as
///   `chgrp`: an owner may only give it to their own group); truncation of `prompt` and scratch
///   files (`EFBIG` past `[limits] prompt_bytes`, decided before anything is allocated); size 0
///   of the writable streams (`input`, `ctl`, `chat`, `/ai/ctl`, team files), `EINVAL` for any
///   other size; `EPERM` for everything else, `EISDIR`, `EROFS` in snapshots.
extension AIFileSystem {
    public func mkdir(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        switch parentNode {
        case .root: break
        case .socketFile, .teamFile: return request.reply(error: .ENOTDIR)
        case .snapshots: return makeSnapshot(request, name: name)
        case .snapshot: return request.reply(error: .EROFS)
        default: return request.reply(error: .EPERM)
        }
        if let text = name.string, RootEntry(rawValue: text) != nil { return request.reply(error: .EEXIST) }
        guard SocketName.problem(with: name) == nil, let text = name.string else { return request.reply(error: .EINVAL) }
        if registry.socket(named: text) != nil { return request.reply(error: .EEXIST) }
        let caller = request.context
        var permissions = mode & 0o777
        if permissions == 0 { permissions = 0o755 }
        let pending = PendingRequest(request, interruptible: false)
        let change = Change.create(name: text, model: nil, uid: caller.uid, gid: caller.gid, mode: permissions)
        environment.admission.post(change, as: caller.uid, to: log) { [self] result in
            guard let request = pending.take() else { return }
            if case .created(let id) = result, let socket = registry.socket(id: id) {
                request.reply(entry: entry(.socketDirectory(socket)))
            } else {
                request.reply(error: result.errno ?? .EIO)
            }
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
            scratch.removeAll(socket: socket.id)
            answer(request, posting: .remove(name: text), after: .beforeRmdir, of: socket.id)
        case .socketDirectory:
            // `pending/` "goes" without effect (as a snapshot's inner directories), so rm -r goes on.
            if text == "pending" { return request.replyOK() }
            request.reply(error: SocketFile(name: text) != nil ? .ENOTDIR : .ENOENT)
        case .pendingDirectory:
            request.reply(error: .ENOTDIR)
        case .memory:
            request.reply(error: text == "search" ? .EPERM : .ENOENT)
        case .memorySearch:
            request.reply(error: .ENOTDIR)  // every name there is a (read-only) file
        case .teamChat:
            request.reply(error: TeamFile(name: text) != nil ? .ENOTDIR : .ENOENT)
        case .snapshots:
            guard snapshots.snapshot(named: text) != nil else { return request.reply(error: .ENOENT) }
            answer(request, posting: .snapshotDelete(name: text))
        case .snapshot(let info, let node):
            // Inner directories of a snapshot "go" without effect, so rm -r reaches the snapshot.
            guard let child = snapshotChild(info, node, text) else { return request.reply(error: .ENOENT) }
            switch child {
            case .sockets, .socket: request.replyOK()
            default: request.reply(error: .ENOTDIR)
            }
        case .daemonControl, .models, .metrics, .events, .cluster, .directory, .socketFile, .searchResult, .teamFile, .scratch, .tools, .pendingCall:
            request.reply(error: .ENOTDIR)
        }
    }

    public func unlink(_ request: consuming Request, parent: Inode, name: FileName) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        guard let text = name.string else { return request.reply(error: .ENOENT) }
        switch parentNode {
        case .socketDirectory(let socket):
            // Files of a socket cannot be deleted; unlinking them succeeds and does nothing so
            // that `rm -r` reaches the rmdir. A scratch file goes.
            if SocketFile(name: text) != nil { return request.replyOK() }
            let caller = Caller(uid: request.context.uid, gid: request.context.gid)
            guard let file = scratch.file(socket: socket.id, name: text, caller: caller) else { return request.reply(error: .ENOENT) }
            scratch.remove(file.inode)
            request.replyOK()
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
        case .pendingDirectory(let socket):
            // A waiting call is decided by approve/deny, not unlink; as in a socket, rm -r goes on.
            if lookupPending(socket, text) != nil { request.replyOK() } else { request.reply(error: .ENOENT) }
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
        if case .socketDirectory(let socket) = parentNode { return renameInSocket(request, socket, oldText, newParent: newParent, newName: newName, flags: flags) }
        guard case .root = parentNode else { return request.reply(error: .EPERM) }
        if RootEntry(rawValue: oldText) != nil { return request.reply(error: .EPERM) }
        guard newParent == InodeScheme.root else { return request.reply(error: .EXDEV) }
        if let newText = newName.string, RootEntry(rawValue: newText) != nil { return request.reply(error: .EINVAL) }
        guard SocketName.problem(with: newName) == nil, let newText = newName.string else { return request.reply(error: .EINVAL) }
        answer(request, posting: .rename(from: oldText, to: newText))
    }

    public func create(_ request: consuming Request, parent: Inode, name: FileName, mode: UInt32, info: FileInfo) {
        guard let parentNode = node(parent) else { return request.reply(error: .ENOENT) }
        switch parentNode {
        case .socketDirectory(let socket): createScratch(request, socket, name: name, info: info)
        case .socketFile, .teamFile, .scratch: request.reply(error: .ENOTDIR)
        case .snapshot, .snapshots: request.reply(error: .EROFS)
        // Only the fixed files exist; nothing can be created (they are found by lookup first).
        default: request.reply(error: .EPERM)
        }
    }

    public func setattr(_ request: consuming Request, inode: Inode, changes: SetAttributes, handle: AnyObject?) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        let caller = request.context
        let ownershipChange = changes.mode != nil || changes.uid != nil || changes.gid != nil
        switch node {
        case .socketDirectory(let socket):
            if changes.size != nil { return request.reply(error: .EISDIR) }
            guard ownershipChange else { break }
            let info = socket.info
            guard caller.uid == 0 || caller.uid == info.uid else { return request.reply(error: .EPERM) }
            if (changes.uid.map { $0 != info.uid } ?? false) && caller.uid != 0 { return request.reply(error: .EPERM) }
            // As chgrp: an owner who is not root may only give the socket to their own group.
            if let gid = changes.gid, gid != info.gid, caller.uid != 0, gid != caller.gid { return request.reply(error: .EPERM) }
            return answerAttributes(request, node, posting: .ownership(socket: socket.id, mode: changes.mode.map { $0 & 0o7777 },
                                                                       uid: changes.uid, gid: changes.gid))
        case .socketFile(let socket, let file):
            if ownershipChange { return request.reply(error: .EPERM) }
            guard let size = changes.size else { break }
            switch file {
            case .input, .ctl, .chat, .outbox, .brain, .network:
                // O_TRUNC-style truncation of a write-only stream means nothing; a length does not.
                if size != 0 { return request.reply(error: .EINVAL) }
            case .prompt:
                // Checked before anything is allocated: `truncate -s 4G prompt` answers at once.
                let limit = environment.limits.maxPromptBytes
                guard size <= UInt64(limit) else {
                    socket.reportError(kind: "prompt", "prompt of \(size) bytes refused: over \(limit) bytes (EFBIG)")
                    return request.reply(error: .EFBIG)
                }
                if let promptFile = handle as? PromptFile {
                    promptFile.truncate(to: size)
                } else {
                    return answerAttributes(request, node, posting: .prompt(socket: socket.id, bytes: socket.prompt.resized(to: size)))
                }
            case .output, .error, .transcript, .context, .inbox:
                return request.reply(error: .EPERM)
            }
        case .snapshot:
            return request.reply(error: .EROFS)
        case .tools, .pendingDirectory, .pendingCall:
            return request.reply(error: .EPERM)  // read-only: what the daemon shows
        case .scratch(let file, _):
            return setScratchAttributes(request, file, changes)
        case .teamFile(let file):
            if ownershipChange { return request.reply(error: .EPERM) }
            if changes.size != nil, !file.writable { return request.reply(error: .EPERM) }
            if let size = changes.size, size != 0 { return request.reply(error: .EINVAL) }
        case .daemonControl:
            if ownershipChange { return request.reply(error: .EPERM) }
            if let size = changes.size, size != 0 { return request.reply(error: .EINVAL) }
        case .root, .teamChat, .memory, .memorySearch, .snapshots, .models, .metrics, .events, .cluster, .directory, .searchResult:
            if ownershipChange || changes.size != nil { return request.reply(error: .EPERM) }
        }
        request.reply(attributes: attributes(node), timeout: attributeTimeout(node))
    }

    /// A destructive act: posts a `trigger` snapshot, then `change`, and answers OK or the
    /// errno once both are done here, so the snapshot holds what the act destroys and is
    /// listed when the caller goes on (`ls snapshots` after `rm -r`). `done` sees the result
    /// first. Without snapshots, just the change.
    func answer(_ request: consuming Request, posting change: Change, after trigger: SnapshotTrigger, of socket: SocketID,
                done: (@Sendable (ChangeResult) -> Void)? = nil) {
        let uid = request.context.uid
        let pending = PendingRequest(request, interruptible: false)
        // Both inside the caller's place at the gate: the snapshot is the costly part.
        environment.admission.enter(uid) { [self] leave in ChangeContext.posting(as: uid) {
            let snapshot = SnapshotWait()
            if snapshots.isAvailable {
                log.post(.snapshot(name: snapshots.automaticName(trigger), trigger: trigger, socket: socket)) { _ in snapshot.stored() }
            } else {
                snapshot.stored()
            }
            log.post(change) { result in
                done?(result)
                snapshot.whenStored {
                    leave()
                    guard let request = pending.take() else { return }
                    if let error = result.errno { request.reply(error: error) } else { request.replyOK() }
                }
            }
        } }
    }

    /// Posts `change` and answers OK, or the errno, once it is applied here.
    func answer(_ request: consuming Request, posting change: Change) {
        let uid = request.context.uid
        let pending = PendingRequest(request, interruptible: false)
        environment.admission.post(change, as: uid, to: log) { result in
            guard let request = pending.take() else { return }
            if let error = result.errno { request.reply(error: error) } else { request.replyOK() }
        }
    }

    /// Posts `change` and answers with `node`'s attributes as they are once it is applied here.
    private func answerAttributes(_ request: consuming Request, _ node: Node, posting change: Change) {
        let uid = request.context.uid
        let pending = PendingRequest(request, interruptible: false)
        environment.admission.post(change, as: uid, to: log) { [self] result in
            guard let request = pending.take() else { return }
            if let error = result.errno { return request.reply(error: error) }
            request.reply(attributes: attributes(node), timeout: attributeTimeout(node))
        }
    }
}

