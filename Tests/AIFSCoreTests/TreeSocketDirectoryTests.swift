@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A socket's directory and the rules all its files share (docs/file-protocol.md, "Socket
/// directory `/ai/NAME/`"), in-process.
@Suite("tree: a socket's directory", .timeLimit(.minutes(1)))
struct TreeSocketDirectoryTests {
    @Test("a socket lists its eight files and pending/; other names ENOENT; below a file ENOTDIR; only scratch files are made inside; its files cannot be removed or renamed")
    func namesInASocket() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let dir = tree.inode(s)
            #expect(try await tree.list(dir) == [".", "..", "input", "output", "error", "ctl", "prompt", "transcript", "chat", "context", "pending"])
            for file in SocketFile.allCases where file.isAgentFile {
                #expect(try await tree.lookup(dir, file.name) == .error(.ENOENT), "only an agent socket has \(file.name)")
            }
            for file in SocketFile.allCases where !file.isAgentFile {
                #expect(try await tree.lookup(dir, file.name).entry?.attributes.inode == tree.inode(s, file))
                #expect(try await tree.lookup(tree.inode(s, file), "x") == .error(.ENOTDIR), "\(file.name)/x")
            }
            #expect(try await tree.lookup(dir, "nope") == .error(.ENOENT))
            #expect(try await tree.session.mkdir(parent: dir, name: "sub").reply == .error(.EPERM))
            #expect(try await tree.session.mkdir(parent: tree.inode(s, .ctl), name: "sub").reply == .error(.ENOTDIR))
            // A new name makes a scratch file (for sed -i and editors), which unlink removes.
            if case .create = try await tree.session.create(parent: dir, name: "new").reply {} else { Issue.record("no scratch file") }
            #expect(try await tree.list(dir).contains("new"))
            #expect(try await tree.session.unlink(parent: dir, name: "new").reply == .ok)
            #expect(try await tree.session.rmdir(parent: dir, name: "input").reply == .error(.ENOTDIR))
            #expect(try await tree.session.rmdir(parent: dir, name: "nope").reply == .error(.ENOENT))
            // unlink of a file succeeds and does nothing (so that rm -r reaches the rmdir).
            for file in SocketFile.allCases {
                #expect(try await tree.session.unlink(parent: dir, name: file.name).reply == .ok, "\(file.name)")
            }
            #expect(try await tree.session.unlink(parent: dir, name: "nope").reply == .error(.ENOENT))
            #expect(try await tree.list(dir).count == 11, "still there")
            // pending/ "goes" without effect too (rm -r goes on), and is still there.
            #expect(try await tree.session.rmdir(parent: dir, name: "pending").reply == .ok)
            #expect(try await tree.lookup(dir, "pending").entry?.attributes.kind == .directory)
            #expect(try await tree.session.rename(parent: dir, name: "prompt", newParent: dir, newName: "p2").reply == .error(.EPERM))
            // rm -r: the files "go", then the rmdir removes the socket.
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok)
            #expect(try await tree.lookup(Tree.root, "s") == .error(.ENOENT))
        }
    }

    @Test("modes follow the directory's; sizes, attribute timeouts and the owner are as documented")
    func attributesOfTheFiles() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let expected: [SocketFile: UInt32] = [.input: 0o200, .output: 0o444, .error: 0o444, .ctl: 0o644,
                                                  .prompt: 0o644, .transcript: 0o444, .chat: 0o644, .context: 0o444]
            for (file, mode) in expected {
                let reply = try await tree.session.getattr(inode: tree.inode(s, file)).reply
                #expect(reply.attributes?.permissions == mode, "\(file.name)")
                #expect(reply.attributes?.uid == Callers.user.uid, "\(file.name)")
                if case .attributes(_, let timeout) = reply { #expect(timeout == (file == .input ? 1 : 0), "\(file.name)") }
            }
            let ctlSize = try await tree.session.getattr(inode: tree.inode(s, .ctl)).reply.attributes?.size
            #expect(ctlSize == UInt64(try await tree.cat(s, .ctl).utf8.count))
            let dir = try await tree.session.getattr(inode: tree.inode(s)).reply.attributes
            #expect(dir?.linkCount == 2 && dir?.size == 0)
        }
    }

    @Test("chmod/chown of the directory: the owner or root may; others EPERM; only root gives it away; truncate is EISDIR")
    func ownershipOfTheDirectory() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let dir = tree.inode(s)
            // Someone else: no chmod, no chown.
            #expect(try await tree.setattrError(dir, SetAttributes(mode: 0o777), as: Callers.other) == .EPERM)
            #expect(try await tree.setattrError(dir, SetAttributes(uid: Callers.other.uid), as: Callers.other) == .EPERM)
            #expect(try await tree.setattrError(dir, SetAttributes(gid: Callers.other.gid), as: Callers.other) == .EPERM)
            // The owner: chmod (kept with 07777) and the files follow; not chown to another uid, not chgrp to a foreign group.
            let changed = try await tree.session.setattr(inode: dir, changes: SetAttributes(mode: 0o1750)).reply
            #expect(changed.attributes?.permissions == 0o1750)
            #expect(try await tree.session.getattr(inode: tree.inode(s, .output)).reply.attributes?.permissions == 0o440)
            #expect(try await tree.session.getattr(inode: tree.inode(s, .input)).reply.attributes?.permissions == 0o200)
            #expect(try await tree.setattrError(dir, SetAttributes(uid: Callers.other.uid)) == .EPERM)
            #expect(try await tree.setattrError(dir, SetAttributes(uid: Callers.user.uid)) == nil, "to the same uid is no change")
            #expect(try await tree.setattrError(dir, SetAttributes(gid: 4242)) == .EPERM)
            // Root gives it away.
            let given = try await tree.session.setattr(inode: dir, changes: SetAttributes(uid: 3000, gid: 3000), as: Callers.root).reply
            #expect(given.attributes?.uid == 3000 && given.attributes?.gid == 3000)
            #expect(try await tree.setattrError(dir, SetAttributes(mode: 0o700)) == .EPERM, "no longer the owner")
            // A directory has no size.
            #expect(try await tree.setattrError(dir, SetAttributes(size: 0), as: Callers.root) == .EISDIR)
            // touch is accepted.
            #expect(try await tree.setattrError(dir, SetAttributes(accessTime: 1, modificationTime: 1)) == nil)
        }
    }

    @Test("chmod and chown of a socket's file are EPERM, even for root")
    func filesRefuseOwnershipChanges() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            for file in SocketFile.allCases {
                for caller in [Callers.user, Callers.root] {
                    #expect(try await tree.setattrError(tree.inode(s, file), SetAttributes(mode: 0o777), as: caller) == .EPERM)
                    #expect(try await tree.setattrError(tree.inode(s, file), SetAttributes(uid: caller.uid), as: caller) == .EPERM)
                    #expect(try await tree.setattrError(tree.inode(s, file), SetAttributes(gid: caller.gid), as: caller) == .EPERM)
                }
            }
        }
    }

    @Test("truncate of output, error and transcript is EPERM; of input, ctl and chat accepted")
    func readOnlyFilesRefuseTruncate() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            for file in [SocketFile.output, .error, .transcript] {
                #expect(try await tree.setattrError(tree.inode(s, file), SetAttributes(size: 0)) == .EPERM, "\(file.name)")
            }
            for file in [SocketFile.input, .ctl, .chat] {
                #expect(try await tree.setattrError(tree.inode(s, file), SetAttributes(size: 0)) == nil, "\(file.name)")
            }
        }
    }

    @Test("opening a file in the wrong direction is EACCES: input for reading; output, error, transcript for writing")
    func openInTheWrongDirection() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let refused: [(SocketFile, Int32)] = [
                (.input, O_RDONLY), (.input, O_RDWR),
                (.output, O_WRONLY), (.output, O_RDWR),
                (.error, O_WRONLY), (.error, O_RDWR),
                (.transcript, O_WRONLY), (.transcript, O_RDWR), (.transcript, O_WRONLY | O_APPEND),
            ]
            for (file, flags) in refused {
                #expect(try await tree.openError(tree.inode(s, file), flags) == .EACCES, "\(file.name) flags \(flags)")
            }
            let allowed: [(SocketFile, Int32)] = [
                (.input, O_WRONLY), (.input, O_WRONLY | O_TRUNC | O_APPEND | O_CREAT), (.output, O_RDONLY), (.error, O_RDONLY),
                (.transcript, O_RDONLY), (.ctl, O_RDWR), (.prompt, O_RDWR), (.chat, O_RDWR),
            ]
            for (file, flags) in allowed {
                #expect(try await tree.openError(tree.inode(s, file), flags) == nil, "\(file.name) flags \(flags)")
            }
            #expect(try await tree.session.open(inode: tree.inode(s)).reply == .error(.EISDIR))
            // Streams are direct_io and not seekable; the transcript goes through the page cache.
            let output = try await tree.open(s, .output)
            #expect(output.options == [.directIO, .nonSeekable])
            let transcript = try await tree.open(s, .transcript)
            #expect(transcript.options == [])
            let ctl = try await tree.open(s, .ctl, O_RDWR)
            #expect(ctl.options == [.directIO])
        }
    }
}

extension TreeSocketDirectoryTests {
    @Test("poll reports input, error, ctl, prompt and transcript as always readable and writable")
    func pollOfTheOtherFiles() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            #expect(try await tree.send(s, "pending") == .ok)
            for (file, flags) in [(SocketFile.input, O_WRONLY), (.error, O_RDONLY), (.ctl, O_RDWR), (.prompt, O_RDWR), (.transcript, O_RDONLY)] {
                let open = try await tree.open(s, file, flags)
                #expect(try await tree.session.poll(open).reply == .poll([.readable, .writable]), "\(file.name)")
                _ = try await tree.session.release(open).reply
            }
            let output = try await tree.open(s, .output)
            #expect(try await tree.session.poll(output).reply == .poll([]), "output: a reply is pending")
            _ = try await tree.session.release(output).reply
            tree.provider.release()
        }
    }
}
