@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai` itself, in-process: its listing, and every errno of mkdir, rmdir, unlink, rename,
/// create and setattr in it (docs/file-protocol.md, "`/ai` (root directory)").
@Suite("tree: the root directory", .timeLimit(.minutes(1)))
struct TreeRootTests {
    @Test("ls /ai lists the fixed entries, then the sockets oldest first; statfs counts sockets")
    func listing() async throws {
        try await withTree(limits: .with { $0.maxSockets = 5 }) { tree in
            try await tree.mkdir("zeta")
            try await tree.mkdir("alpha")
            #expect(try await tree.list(Tree.root) == [".", "..", "ctl", "models", "team-chat-all", "memory", "snapshots", "tools", "metrics", "events", "cluster", "directory", "zeta", "alpha"])
            let statistics = try await tree.session.statfs().reply
            #expect(statistics == .statistics(FilesystemStatistics(files: 2, freeFiles: 3, maxNameLength: 64)))
            let root = try await tree.session.getattr(inode: Tree.root).reply.attributes
            #expect(root?.permissions == 0o755 && root?.kind == .directory && root?.uid == Callers.daemon.uid)
            #expect(try await tree.lookup(Tree.root, "nope") == .error(.ENOENT))
        }
    }

    @Test("mkdir of an existing socket or of a fixed name is EEXIST")
    func mkdirOfAnExistingOrFixedName() async throws {
        try await withTree { tree in
            try await tree.mkdir("apollo")
            #expect(try await tree.session.mkdir(parent: Tree.root, name: "apollo").reply == .error(.EEXIST))
            for fixed in ["ctl", "models", "team-chat-all", "memory", "snapshots", "tools", "metrics", "events", "cluster", "directory"] {
                #expect(try await tree.session.mkdir(parent: Tree.root, name: fixed).reply == .error(.EEXIST), "\(fixed)")
            }
            #expect(tree.registry.count == 1)
        }
    }

    @Test("mkdir of a bad name is EINVAL; 64 bytes of [A-Za-z0-9._-] are fine; mode and owner are the caller's")
    func mkdirOfABadName() async throws {
        try await withTree { tree in
            for bad in ["", String(repeating: "a", count: 65), ".hidden", "a b", "a:b", "caf\u{E9}", "a*"] {
                #expect(try await tree.session.mkdir(parent: Tree.root, name: bad).reply == .error(.EINVAL), "\(bad.debugDescription)")
            }
            #expect(tree.registry.count == 0)
            let long = String(repeating: "b", count: 64)
            let id = try await tree.mkdir(long, mode: 0o4750)
            let attributes = try #require(try await tree.session.getattr(inode: tree.inode(id)).reply.attributes)
            #expect(attributes.permissions == 0o750, "masked to 0777")
            #expect(attributes.uid == Callers.user.uid && attributes.gid == Callers.user.gid)
            let zero = try await tree.mkdir("x_y-z.1", mode: 0)
            #expect(try await tree.session.getattr(inode: tree.inode(zero)).reply.attributes?.permissions == 0o755)
        }
    }

    @Test("mkdir beyond [limits] sockets is ENOSPC; a removal makes room")
    func mkdirBeyondTheSocketLimit() async throws {
        try await withTree(limits: .with { $0.maxSockets = 2 }) { tree in
            try await tree.mkdir("a")
            try await tree.mkdir("b")
            #expect(try await tree.session.mkdir(parent: Tree.root, name: "c").reply == .error(.ENOSPC))
            #expect(try await tree.session.statfs().reply == .statistics(FilesystemStatistics(files: 2, freeFiles: 0, maxNameLength: 64)))
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "a").reply == .ok)
            try await tree.mkdir("c")
        }
    }

    @Test("rmdir: EPERM on team-chat-all, memory, snapshots; ENOTDIR on ctl, models, tools, metrics, events, cluster, directory; ENOENT for no socket")
    func rmdirOfFixedNames() async throws {
        try await withTree { (tree: Tree) async throws in
            for directory in ["team-chat-all", "memory", "snapshots"] {
                #expect(try await tree.session.rmdir(parent: Tree.root, name: directory).reply == .error(.EPERM), "\(directory)")
            }
            for file in ["ctl", "models", "tools", "metrics", "events", "cluster", "directory"] {
                #expect(try await tree.session.rmdir(parent: Tree.root, name: file).reply == .error(.ENOTDIR), "\(file)")
            }
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "nosuch").reply == .error(.ENOENT))
            // Still all there.
            #expect(try await tree.list(Tree.root) == [".", "..", "ctl", "models", "team-chat-all", "memory", "snapshots", "tools", "metrics", "events", "cluster", "directory"])
        }
    }

    @Test("rmdir by a user who is not root, the owner or the daemon's user is EPERM (said in error); they may")
    func rmdirByAnotherUser() async throws {
        try await withTree { tree in
            let id = try await tree.mkdir("mine")
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "mine", as: Callers.other).reply == .error(.EPERM))
            #expect(try await tree.cat(id, .error).contains(" rmdir uid 2000 may not remove this socket (only its owner or root)"))
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "mine").reply == .ok, "the owner")
            for remover in [Callers.root, Callers.daemon] {
                try await tree.mkdir("mine")
                #expect(try await tree.session.rmdir(parent: Tree.root, name: "mine", as: remover).reply == .ok, "uid \(remover.uid)")
            }
        }
    }

    @Test("a removed socket's inodes answer ENOENT; a new socket of the same name gets new inodes")
    func stalePaths() async throws {
        try await withTree { tree in
            let old = try await tree.mkdir("s")
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok)
            #expect(try await tree.session.getattr(inode: tree.inode(old)).reply == .error(.ENOENT))
            #expect(try await tree.session.open(inode: tree.inode(old, .output)).reply == .error(.ENOENT))
            #expect(try await tree.lookup(tree.inode(old), "input") == .error(.ENOENT))
            let new = try await tree.mkdir("s")
            #expect(new != old)
            #expect(try await tree.session.getattr(inode: tree.inode(old, .ctl)).reply == .error(.ENOENT))
        }
    }

    @Test("unlink in /ai: EISDIR for a socket or a fixed directory, EPERM for ctl and models, ENOENT otherwise")
    func unlinkInTheRoot() async throws {
        try await withTree { tree in
            try await tree.mkdir("s")
            for directory in ["s", "team-chat-all", "memory", "snapshots"] {
                #expect(try await tree.session.unlink(parent: Tree.root, name: directory).reply == .error(.EISDIR), "\(directory)")
            }
            for file in ["ctl", "models", "tools", "metrics", "events", "cluster", "directory"] {
                #expect(try await tree.session.unlink(parent: Tree.root, name: file).reply == .error(.EPERM), "\(file)")
            }
            #expect(try await tree.session.unlink(parent: Tree.root, name: "nosuch").reply == .error(.ENOENT))
            #expect(tree.registry.socket(named: "s") != nil)
        }
    }

    @Test("rename: EPERM, EXDEV, EINVAL, EEXIST, ENOENT; a rename keeps the socket and its output")
    func renameRefusals() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a")
            let b = try await tree.mkdir("b")
            func rename(_ parent: Inode, _ name: String, to newName: String, in newParent: Inode = Tree.root, flags: UInt32 = 0) async throws -> Reply {
                try await tree.session.rename(parent: parent, name: name, newParent: newParent, newName: newName, flags: flags).reply
            }
            // The source is a fixed entry, or not directly in /ai.
            for fixed in ["ctl", "models", "team-chat-all", "memory", "snapshots", "tools", "metrics", "events", "cluster", "directory"] {
                #expect(try await rename(Tree.root, fixed, to: "x") == .error(.EPERM), "\(fixed)")
            }
            #expect(try await rename(tree.inode(a), "input", to: "x") == .error(.EPERM))
            #expect(try await rename(tree.inode(a), "input", to: "input", in: tree.inode(b)) == .error(.EPERM))
            // Out of /ai (what `mv a b` tries when b exists: b/a).
            #expect(try await rename(Tree.root, "a", to: "a", in: tree.inode(b)) == .error(.EXDEV))
            #expect(try await rename(Tree.root, "a", to: "a", in: InodeScheme.teamChat) == .error(.EXDEV))
            // Reserved or bad new names; RENAME_EXCHANGE.
            for bad in ["ctl", "snapshots", "", ".a", "a b", String(repeating: "n", count: 65)] {
                #expect(try await rename(Tree.root, "a", to: bad) == .error(.EINVAL), "\(bad.debugDescription)")
            }
            #expect(try await rename(Tree.root, "a", to: "c", flags: 2) == .error(.EINVAL))
            // Onto an existing socket; no such socket.
            #expect(try await rename(Tree.root, "a", to: "b") == .error(.EEXIST))
            #expect(try await rename(Tree.root, "nosuch", to: "c") == .error(.ENOENT))
            // A real rename: same socket, same inode, its unread output kept.
            #expect(try await tree.send(a, "kept\n") == .ok)
            #expect(try await rename(Tree.root, "a", to: "c") == .ok)
            #expect(try await tree.lookup(Tree.root, "a") == .error(.ENOENT))
            #expect(try await tree.lookup(Tree.root, "c").entry?.attributes.inode == tree.inode(a))
            #expect(try await tree.cat(a, .output) == "kept\n")
            #expect(try await tree.list(Tree.root).suffix(2) == ["c", "b"], "still oldest first")
        }
    }

    @Test("create: EPERM in /ai, team-chat-all and memory; ENOTDIR below a file; in a socket only a scratch file")
    func createIsRefusedEverywhere() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            for parent in [Tree.root, InodeScheme.teamChat, InodeScheme.memory] {
                #expect(try await tree.session.create(parent: parent, name: "foo").reply == .error(.EPERM), "parent \(parent)")
            }
            for parent in [tree.inode(s, .ctl), InodeScheme.inode(team: .ctl)] {
                #expect(try await tree.session.create(parent: parent, name: "foo").reply == .error(.ENOTDIR), "parent \(parent)")
            }
            #expect(try await tree.list(tree.inode(s)).count == 11, ". .., the eight files and pending/ only")
            guard case .create(let entry, _, _) = try await tree.session.create(parent: tree.inode(s), name: "foo").reply else {
                Issue.record("create in a socket directory makes a scratch file")
                return
            }
            #expect(entry.attributes.permissions == 0o600 && ScratchFiles.contains(entry.attributes.inode))
            #expect(try await tree.list(tree.inode(s)).count == 12, "the scratch file is listed")
        }
    }

    @Test("chmod, chown and truncate of /ai are EPERM; touch is accepted")
    func setattrOfTheRoot() async throws {
        try await withTree { tree in
            #expect(try await tree.setattrError(Tree.root, SetAttributes(mode: 0o777)) == .EPERM)
            #expect(try await tree.setattrError(Tree.root, SetAttributes(uid: 1000)) == .EPERM)
            #expect(try await tree.setattrError(Tree.root, SetAttributes(gid: 1000)) == .EPERM)
            #expect(try await tree.setattrError(Tree.root, SetAttributes(size: 0)) == .EPERM)
            #expect(try await tree.setattrError(Tree.root, SetAttributes(mode: 0o777), as: Callers.root) == .EPERM, "root too")
            let touched = try await tree.session.setattr(inode: Tree.root, changes: SetAttributes(accessTime: 1, modificationTime: 2)).reply
            #expect(touched.attributes?.permissions == 0o755)
        }
    }
}
