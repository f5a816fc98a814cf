@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/snapshots/` and restore, in-process on a durable store in a temporary directory
/// (docs/file-protocol.md, "`/ai/snapshots/`").
@Suite("tree: snapshots", .timeLimit(.minutes(1)))
struct TreeSnapshotTests {
    static let snapshots = InodeScheme.snapshots

    /// A socket `s` with prompt `v1` and one answered exchange.
    static func socketWithHistory(_ tree: Tree) async throws -> SocketID {
        let s = try await tree.mkdir("s")
        let prompt = try await tree.open(s, .prompt, O_WRONLY | O_TRUNC)
        #expect(try await tree.session.write(prompt, "v1").reply == .written(2))
        #expect(try await tree.session.flush(prompt).reply == .ok)
        _ = try await tree.session.release(prompt).reply
        #expect(try await tree.send(s, "remember me") == .ok)
        #expect(try await tree.cat(s, .output) == "remember me\n")
        return s
    }

    /// `mkdir /ai/snapshots/NAME`: the snapshot's directory inode.
    static func take(_ tree: Tree, _ name: String) async throws -> Inode {
        let reply = try await tree.session.mkdir(parent: snapshots, name: name).reply
        return try #require(reply.entry, "mkdir snapshots/\(name): \(reply)").attributes.inode
    }

    static func setPrompt(_ tree: Tree, _ s: SocketID, _ text: String) async throws {
        let prompt = try await tree.open(s, .prompt, O_WRONLY | O_TRUNC)
        #expect(try await tree.session.write(prompt, text).reply == .written(text.utf8.count))
        #expect(try await tree.session.flush(prompt).reply == .ok)
        _ = try await tree.session.release(prompt).reply
    }

    @Test("mkdir snapshots/NAME takes one once committed; a bad name is EINVAL, an existing one EEXIST; its files read back")
    func mkdirOfSnapshots() async throws {
        try await withTree(.durable) { tree in
            _ = try await Self.socketWithHistory(tree)
            for bad in ["", ".dot", "a b", "caf\u{E9}", String(repeating: "x", count: 65)] {
                #expect(try await tree.session.mkdir(parent: Self.snapshots, name: bad).reply == .error(.EINVAL), "\(bad.debugDescription)")
            }
            let one = try await Self.take(tree, "one")
            #expect(try await tree.session.mkdir(parent: Self.snapshots, name: "one").reply == .error(.EEXIST))
            #expect(try await tree.list(Self.snapshots) == [".", "..", "one"])
            #expect(try await tree.list(one) == [".", "..", "metadata.json", "sockets"])
            let metadata = try #require(try await tree.lookup(one, "metadata.json").entry?.attributes)
            let json = try await tree.cat(metadata.inode)
            #expect(metadata.permissions == 0o444 && metadata.size == UInt64(json.utf8.count))
            #expect(json.contains("\"name\": \"one\"") && json.contains("\"trigger\": \"manual\"") && json.contains("\"sockets\": [\"s\"]"))
            let sockets = try #require(try await tree.lookup(one, "sockets").entry?.attributes.inode)
            let socket = try #require(try await tree.lookup(sockets, "s").entry?.attributes.inode)
            #expect(try await tree.list(socket) == [".", "..", "ctl", "prompt", "transcript"])
            let prompt = try #require(try await tree.lookup(socket, "prompt").entry?.attributes)
            #expect(prompt.size == 2)
            #expect(try await tree.cat(prompt.inode) == "v1")
            let transcript = try #require(try await tree.lookup(socket, "transcript").entry?.attributes.inode)
            #expect(try await tree.cat(transcript).contains("\nremember me\n[team-chat-from-s] "))
            #expect(try await tree.lookup(metadata.inode, "x") == .error(.ENOTDIR))
            #expect(try await tree.lookup(sockets, "nosuch") == .error(.ENOENT))
            #expect(Tree.value("snapshots", in: try await tree.cat(InodeScheme.daemonControl)) == "1")
        }
    }

    @Test("inside a snapshot nothing can be written: mkdir, create, open for writing, truncate and chmod are EROFS")
    func insideASnapshotIsReadOnly() async throws {
        try await withTree(.durable) { tree in
            _ = try await Self.socketWithHistory(tree)
            let one = try await Self.take(tree, "one")
            let sockets = try #require(try await tree.lookup(one, "sockets").entry?.attributes.inode)
            let socket = try #require(try await tree.lookup(sockets, "s").entry?.attributes.inode)
            let metadata = try #require(try await tree.lookup(one, "metadata.json").entry?.attributes.inode)
            let ctl = try #require(try await tree.lookup(socket, "ctl").entry?.attributes.inode)
            for parent in [one, sockets, socket] {
                #expect(try await tree.session.mkdir(parent: parent, name: "x").reply == .error(.EROFS))
                #expect(try await tree.session.create(parent: parent, name: "x").reply == .error(.EROFS))
            }
            #expect(try await tree.session.create(parent: Self.snapshots, name: "x").reply == .error(.EROFS))
            for file in [metadata, ctl] {
                #expect(try await tree.openError(file, O_WRONLY) == .EROFS)
                #expect(try await tree.openError(file, O_RDWR) == .EROFS)
                #expect(try await tree.setattrError(file, SetAttributes(size: 0)) == .EROFS)
                #expect(try await tree.setattrError(file, SetAttributes(mode: 0o666)) == .EROFS)
            }
            for directory in [one, sockets, socket] {
                #expect(try await tree.setattrError(directory, SetAttributes(mode: 0o777)) == .EROFS)
                #expect(try await tree.setattrError(directory, SetAttributes(uid: 0, gid: 0), as: Callers.root) == .EROFS)
            }
            #expect(try await tree.session.getattr(inode: ctl).reply.attributes?.permissions == 0o444)
            #expect(try await tree.cat(ctl).contains("name: s\n"))
            let opened = try await tree.session.open(inode: ctl).file
            #expect(opened.options == [.keepCache], "immutable: through the page cache")
            _ = try await tree.session.release(opened).reply
        }
    }

    @Test("rmdir snapshots/NAME of no snapshot is ENOENT; rm -r of one unlinks and rmdirs inside without effect, then deletes it")
    func deletingSnapshots() async throws {
        try await withTree(.durable) { tree in
            _ = try await Self.socketWithHistory(tree)
            #expect(try await tree.session.rmdir(parent: Self.snapshots, name: "nosuch").reply == .error(.ENOENT))
            #expect(try await tree.session.unlink(parent: Self.snapshots, name: "nosuch").reply == .error(.ENOENT))
            let one = try await Self.take(tree, "one")
            #expect(try await tree.session.unlink(parent: Self.snapshots, name: "one").reply == .error(.EISDIR))
            let sockets = try #require(try await tree.lookup(one, "sockets").entry?.attributes.inode)
            let socket = try #require(try await tree.lookup(sockets, "s").entry?.attributes.inode)
            // What rm -r does, depth first.
            for file in ["ctl", "prompt", "transcript"] {
                #expect(try await tree.session.unlink(parent: socket, name: file).reply == .ok)
            }
            #expect(try await tree.session.rmdir(parent: socket, name: "ctl").reply == .error(.ENOTDIR))
            #expect(try await tree.session.rmdir(parent: sockets, name: "s").reply == .ok)
            #expect(try await tree.session.unlink(parent: one, name: "metadata.json").reply == .ok)
            #expect(try await tree.session.unlink(parent: one, name: "sockets").reply == .error(.EISDIR))
            #expect(try await tree.session.rmdir(parent: one, name: "metadata.json").reply == .error(.ENOTDIR))
            #expect(try await tree.session.rmdir(parent: one, name: "sockets").reply == .ok)
            #expect(try await tree.list(socket).count == 5, "all still there until the snapshot goes")
            #expect(try await tree.session.rmdir(parent: Self.snapshots, name: "one").reply == .ok)
            #expect(try await tree.lookup(Self.snapshots, "one") == .error(.ENOENT))
            #expect(try await tree.session.getattr(inode: one).reply == .error(.ENOENT), "a stale inode")
            #expect(try await tree.session.getattr(inode: socket).reply == .error(.ENOENT))
        }
    }

    @Test("/ai/ctl snapshot: an existing name is EEXIST, a bad one EINVAL, the reason in the error: line; unnamed is manual-TIME")
    func daemonSnapshotCommandRefusals() async throws {
        try await withTree(.durable) { tree in
            _ = try await Self.socketWithHistory(tree)
            let ctl = InodeScheme.daemonControl
            #expect(try await tree.writeControl(ctl, "snapshot one\n").write == .written(13))
            #expect(try await tree.writeControl(ctl, "snapshot one\n").write == .error(.EEXIST))
            #expect(try await TreeDaemonTests.errorLine(tree) == "snapshot: snapshot 'one' exists")
            #expect(try await tree.writeControl(ctl, "snapshot .bad\n").write == .error(.EINVAL))
            #expect(try await TreeDaemonTests.errorLine(tree) == "snapshot: a snapshot name cannot start with '.'")
            #expect(try await tree.writeControl(ctl, "snapshot\n").write == .written(9))
            let names = try await tree.list(Self.snapshots)
            #expect(names.count == 4 && names[2] == "one" && names[3].hasPrefix("manual-"), "\(names)")
        }
    }

    @Test("/ai/ctl restore of a missing snapshot is ENOENT with the reason in the error: line; a real one brings everything back")
    func daemonRestoreOfAMissingSnapshot() async throws {
        try await withTree(.durable) { tree in
            let s = try await Self.socketWithHistory(tree)
            let ctl = InodeScheme.daemonControl
            #expect(try await tree.writeControl(ctl, "restore nosuch\n").write == .error(.ENOENT))
            #expect(try await TreeDaemonTests.errorLine(tree) == "restore: no snapshot 'nosuch'")
            _ = try await Self.take(tree, "one")
            try await Self.setPrompt(tree, s, "v2")
            try await tree.mkdir("later")
            #expect(try await tree.writeControl(ctl, "restore one\n").write == .written(12), "answered once the sockets are back")
            #expect(try await tree.cat(s, .prompt) == "v1")
            #expect(try await tree.lookup(Tree.root, "later") == .error(.ENOENT), "made since: removed")
            #expect(tree.session.invalidations.contains(.entry(parent: Tree.root, name: "later")))
            #expect(try await tree.cat(s, .transcript).contains("[restore] "))
            let names = try await tree.list(Self.snapshots)
            #expect(names.contains { $0.hasPrefix("before-restore-") }, "\(names)")
        }
    }

    @Test("a socket's ctl restore: ENOENT for no such snapshot or one without this socket, the reason in its error")
    func socketRestoreRefusals() async throws {
        try await withTree(.durable) { tree in
            let s = try await Self.socketWithHistory(tree)
            _ = try await Self.take(tree, "early")
            let late = try await tree.mkdir("late")
            #expect(try await tree.control(s, "restore nosuch\n").write == .error(.ENOENT))
            #expect(try await tree.cat(s, .error).contains(" ctl restore: no snapshot 'nosuch'\n"))
            #expect(try await tree.control(late, "restore early\n").write == .error(.ENOENT))
            #expect(try await tree.cat(late, .error).contains(" ctl restore: snapshot 'early' has no socket 'late'\n"))
            #expect(try await tree.control(s, "restore early\nrestore early\n").write == .error(.EINVAL), "one restore per write")
            #expect(try await tree.control(s, "restore early\n", as: Callers.other).write == .error(.EPERM))
            #expect(try await tree.cat(s, .error).contains(" ctl restore: only the socket's owner or root may restore it\n"))
            // A real one: this socket only.
            try await Self.setPrompt(tree, s, "v2")
            #expect(try await tree.control(s, "restore early\n").write == .written(14))
            #expect(try await tree.cat(s, .prompt) == "v1")
            #expect(try await tree.lookup(Tree.root, "late").entry != nil, "the other sockets are left alone")
        }
    }

    @Test("with --store memory: mkdir snapshots/NAME, snapshot and restore are ENOTSUP; the directory is empty")
    func memoryStoreHasNoSnapshots() async throws {
        try await withTree(.memory) { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.session.mkdir(parent: Self.snapshots, name: "x").reply == .error(.ENOTSUP))
            #expect(try await tree.writeControl(InodeScheme.daemonControl, "snapshot x\n").write == .error(.ENOTSUP))
            #expect(try await TreeDaemonTests.errorLine(tree)?.hasPrefix("snapshot: snapshots need the durable store") == true)
            #expect(try await tree.writeControl(InodeScheme.daemonControl, "restore x\n").write == .error(.ENOTSUP))
            #expect(try await TreeDaemonTests.errorLine(tree)?.hasPrefix("restore: snapshots need the durable store") == true)
            #expect(try await tree.control(s, "restore x\n").write == .error(.ENOTSUP))
            #expect(try await tree.cat(s, .error).contains(" ctl restore: snapshots need the durable store\n"))
            #expect(try await tree.list(Self.snapshots) == [".", ".."])
            #expect(try await tree.session.rmdir(parent: Self.snapshots, name: "x").reply == .error(.ENOENT),
                    "nothing to delete: ENOENT, as the kernel's lookup would answer")
            #expect(try await tree.control(s, "reset\n").write == .written(6), "reset goes on without its snapshot")
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok, "so does rmdir")
        }
    }
}
