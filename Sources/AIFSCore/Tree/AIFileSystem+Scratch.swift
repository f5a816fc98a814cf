import FuseKit

/// Scratch files in socket directories (``ScratchFiles``): how tools that save through a
/// temporary file work on `prompt` — `sed -i`, `perl -pi -e`, Python's `tempfile` +
/// `os.replace`, `vim` and `nano`.
///
/// - `create NAME` in a socket directory: a scratch file of the caller's, mode 0600. `EEXIST`
///   (the caller has one of that name), `EACCES` (the caller may not write the socket),
///   `ENOSPC` (16 in the directory), `EINVAL` (a name that is not UTF-8 or over 255 bytes).
/// - `rename SCRATCH prompt`: the prompt becomes the scratch file's bytes in one change, a
///   `before-prompt` snapshot first (as for every destructive act), and the scratch file is
///   gone. `EFBIG` past `[limits] prompt_bytes`. Onto another of the socket's files: `EPERM`.
/// - `rename SCRATCH OTHER`: the scratch file is renamed (replacing the caller's OTHER).
/// - `rename` of a socket's own files: `EPERM`; into another directory: `EXDEV`.
/// - `setattr` of a scratch file: its size; `chmod` is taken and ignored (it stays 0600);
///   `chown` to anyone else: `EPERM`.
extension AIFileSystem {
    func createScratch(_ request: consuming Request, _ socket: Socket, name: FileName, info: FileInfo) {
        guard let text = name.string, text.utf8.count <= 255 else { return request.reply(error: .EINVAL) }
        let caller = Caller(uid: request.context.uid, gid: request.context.gid)
        guard socket.allows(.write, caller) else { return request.reply(error: .EACCES) }
        do {
            let file = try scratch.create(socket: socket.id, name: text, caller: caller)
            let handle = ScratchFile(files: scratch, inode: file.inode, limit: environment.limits.maxPromptBytes)
            request.reply(create: entry(.scratch(file, socket)), handle: handle, options: [.directIO])
        } catch {
            request.reply(error: error)
        }
    }

    func renameInSocket(_ request: consuming Request, _ socket: Socket, _ oldName: String, newParent: Inode,
                        newName: FileName, flags: UInt32) {
        let caller = Caller(uid: request.context.uid, gid: request.context.gid)
        guard let file = scratch.file(socket: socket.id, name: oldName, caller: caller) else {
            return request.reply(error: SocketFile(name: oldName) != nil ? .EPERM : .ENOENT)
        }
        guard newParent == InodeScheme.inode(socket: socket.id, file: nil) else { return request.reply(error: .EXDEV) }
        guard let newText = newName.string, newText.utf8.count <= 255 else { return request.reply(error: .EINVAL) }
        let noReplace: UInt32 = 1
        switch SocketFile(name: newText) {
        case .prompt?:
            if flags & noReplace != 0 { return request.reply(error: .EEXIST) }
            replacePrompt(request, socket, with: file)
        case _?:
            request.reply(error: .EPERM)
        case nil:
            if flags & noReplace != 0, scratch.file(socket: socket.id, name: newText, caller: caller) != nil {
                return request.reply(error: .EEXIST)
            }
            do { try scratch.rename(file.inode, to: newText) } catch { return request.reply(error: error) }
            request.replyOK()
        }
    }

    /// The prompt becomes `file`'s bytes, after a `before-prompt` snapshot of the old one. The
    /// scratch file goes only once the prompt is changed: if the change fails (`EIO`, the log
    /// unavailable), the user's edit is still there.
    private func replacePrompt(_ request: consuming Request, _ socket: Socket, with file: ScratchFiles.File) {
        let limit = environment.limits.maxPromptBytes
        guard file.bytes.count <= limit else {
            socket.reportError(kind: "prompt", "prompt over \(limit) bytes refused")
            return request.reply(error: .EFBIG)
        }
        let scratch = scratch
        answer(request, posting: .prompt(socket: socket.id, bytes: file.bytes), after: .beforePrompt, of: socket.id) { result in
            if result.errno == nil { scratch.remove(file.inode) }
        }
    }

    func setScratchAttributes(_ request: consuming Request, _ file: ScratchFiles.File, _ changes: SetAttributes) {
        let caller = request.context
        if changes.uid.map({ $0 != file.uid }) ?? false, caller.uid != 0 { return request.reply(error: .EPERM) }
        if changes.gid.map({ $0 != file.gid && $0 != caller.gid }) ?? false, caller.uid != 0 { return request.reply(error: .EPERM) }
        if let size = changes.size {
            do { try scratch.truncate(file.inode, to: size, limit: environment.limits.maxPromptBytes) } catch { return request.reply(error: error) }
        }
        guard let node = node(file.inode) else { return request.reply(error: .ENOENT) }
        request.reply(attributes: attributes(node), timeout: 0)
    }
}
