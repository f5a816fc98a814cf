import FuseKit

/// `fallocate(2)` and `posix_fallocate(3)`, answered from the sizes alone, at once.
///
/// - `prompt` and scratch files: mode 0 extends the file with zeros to `offset + length` when
///   it is shorter (as on a regular file); `EFBIG` past `[limits] prompt_bytes`, decided before
///   anything is allocated; any other mode (punching, collapsing, zeroing ranges) `EOPNOTSUPP`.
/// - The writable streams (`input`, `ctl`, `chat`, `/ai/ctl`, team files): `EINVAL`, as a
///   stream has no storage to reserve. Not `EOPNOTSUPP`: glibc's `posix_fallocate` would then
///   write a byte into every 4 KiB block of the range, one request each (8 s on `ctl` for a
///   range of a few hundred MiB, before it failed anyway).
/// - Anything else open for writing: `EINVAL`. (Read-only descriptors get `EBADF` from the kernel.)
extension AIFileSystem {
    public func fallocate(_ request: consuming Request, inode: Inode, handle: AnyObject?, mode: Int32, offset: Int64, length: Int64) {
        guard let node = node(inode) else { return request.reply(error: .ENOENT) }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard offset >= 0, length > 0, !overflow else { return request.reply(error: overflow ? .EFBIG : .EINVAL) }
        let limit = environment.limits.maxPromptBytes
        switch node {
        case .socketFile(let socket, .prompt):
            guard mode == 0 else { return request.reply(error: .EOPNOTSUPP) }
            guard end <= limit else {
                socket.reportError(kind: "prompt", "fallocate to \(end) bytes refused: over \(limit) bytes (EFBIG)")
                return request.reply(error: .EFBIG)
            }
            guard let promptFile = handle as? PromptFile else { return request.reply(error: .EBADF) }
            promptFile.extend(to: Int(end))
            request.replyOK()
        case .scratch(let file, _):
            guard mode == 0 else { return request.reply(error: .EOPNOTSUPP) }
            guard end <= limit else { return request.reply(error: .EFBIG) }
            do {
                if file.bytes.count < end { try scratch.truncate(file.inode, to: UInt64(end), limit: limit) }
            } catch {
                return request.reply(error: error)
            }
            request.replyOK()
        default:
            request.reply(error: .EINVAL)
        }
    }
}
