@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/ctl` and `/ai/models`, in-process (docs/file-protocol.md, "`/ai/ctl` (daemon)" and
/// "`/ai/models`").
@Suite("tree: /ai/ctl and /ai/models", .timeLimit(.minutes(1)))
struct TreeDaemonTests {
    static let ctl = InodeScheme.daemonControl

    /// The `error:` line of `/ai/ctl`, without its time.
    static func errorLine(_ tree: Tree) async throws -> String? {
        let status = try await tree.cat(ctl)
        return Tree.value("error", in: status).map { String($0.drop { $0 != " " }.dropFirst()) }
    }

    @Test("/ai/ctl reads the status fixed at open; its size is the text's; any open mode works")
    func status() async throws {
        try await withTree { tree in
            try await tree.mkdir("sql")
            let line = "set capabilities writes SQL\n"
            #expect(try await tree.control(tree.registry.socket(named: "sql")!.id, line).write == .written(line.utf8.count))
            let file = try await tree.session.open(inode: Self.ctl, flags: O_RDWR).file
            try await tree.mkdir("later")  // after the open: not in this copy
            let text = try await tree.readToEnd(file)
            _ = try await tree.session.release(file).reply
            #expect(Tree.value("version", in: text) == "test")
            #expect(Tree.value("mountpoint", in: text) == "/tmp/aifs-tree-test")
            #expect(Tree.value("sockets", in: text) == "1")
            #expect(Tree.value("default-model", in: text) == "echo")
            #expect(text.contains("\nsocket sql: echo active writes SQL\n"))
            #expect(Tree.value("snapshots", in: text) == nil, "no snapshots line without the durable store")
            let fresh = try await tree.cat(Self.ctl)
            #expect(Tree.value("sockets", in: fresh) == "2")
            let attributes = try await tree.session.getattr(inode: Self.ctl).reply
            #expect(attributes.attributes?.permissions == 0o644)
            if case .attributes(_, let timeout) = attributes { #expect(timeout == 0) }
            #expect(attributes.attributes?.size == UInt64(try await tree.cat(Self.ctl).utf8.count))
            for flags in [O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_TRUNC | O_APPEND] {
                #expect(try await tree.openError(Self.ctl, flags) == nil, "flags \(flags)")
            }
        }
    }

    @Test("/ai/ctl refuses a bad write with EINVAL and says why in its error: line; the whole write is parsed first")
    func badDaemonCommands() async throws {
        try await withTree { tree in
            let cases: [(bytes: [UInt8], reason: String)] = [
                (Array("bogus\n".utf8), "unknown command 'bogus' (create, snapshot, restore, reload)"),
                (Array("create\n".utf8), "usage: create NAME [MODEL]"),
                (Array("create a b c\n".utf8), "usage: create NAME [MODEL]"),
                (Array(("create " + String(repeating: "x", count: 4100) + "\n").utf8), "line longer than 4096 bytes"),
                ([0x63, 0xFF, 0xFE, 0x0A], "ctl text is not valid UTF-8"),
                (Array("create first\nbogus\n".utf8), "unknown command 'bogus' (create, snapshot, restore, reload)"),
            ]
            for (bytes, reason) in cases {
                let (write, close) = try await tree.writeControl(Self.ctl, bytes)
                #expect(write == .error(.EINVAL), "\(reason)")
                #expect(close == .ok, "nothing left for the close")
                #expect(try await Self.errorLine(tree) == reason)
            }
            #expect(tree.registry.count == 0, "create first was not applied: the write was refused whole")
            // Over 64 KiB pending, without a newline.
            let file = try await tree.session.open(inode: Self.ctl, flags: O_WRONLY).file
            #expect(try await tree.session.write(file, [UInt8](repeating: 0x61, count: 40_000)).reply == .written(40_000))
            #expect(try await tree.session.write(file, [UInt8](repeating: 0x61, count: 40_000)).reply == .error(.EINVAL))
            #expect(try await tree.session.flush(file).reply == .ok, "what was pending is dropped")
            _ = try await tree.session.release(file).reply
            #expect(try await Self.errorLine(tree) == "ctl write over 65536 bytes")
        }
    }

    @Test("/ai/ctl: a bad trailing partial line fails the close with EINVAL; a good one is applied at the close")
    func partialLines() async throws {
        try await withTree { tree in
            let file = try await tree.session.open(inode: Self.ctl, flags: O_WRONLY).file
            #expect(try await tree.session.write(file, "create one\ncreate tw").reply == .written(20))
            #expect(tree.registry.socket(named: "one") != nil, "the complete line is applied by its write")
            #expect(tree.registry.socket(named: "tw") == nil)
            #expect(try await tree.session.write(file, "o").reply == .written(1))
            #expect(try await tree.session.flush(file).reply == .ok)
            #expect(tree.registry.socket(named: "two") != nil)
            #expect(try await tree.session.write(file, "bogus").reply == .written(5))
            #expect(try await tree.session.flush(file).reply == .error(.EINVAL))
            _ = try await tree.session.release(file).reply
            #expect(try await Self.errorLine(tree)?.hasPrefix("unknown command 'bogus'") == true)
        }
    }

    @Test("/ai/ctl create: EINVAL (bad name, unknown model), EEXIST, ENOSPC; commands before the failure stay done")
    func createCommandRefusals() async throws {
        try await withTree(limits: .with { $0.maxSockets = 3 }) { tree in
            #expect(try await tree.writeControl(Self.ctl, "create .bad\n").write == .error(.EINVAL))
            #expect(try await Self.errorLine(tree) == "create .bad: name starts with '.'")
            #expect(try await tree.writeControl(Self.ctl, "create ok nosuch/model\n").write == .error(.EINVAL))
            #expect(try await Self.errorLine(tree) == "create ok: unknown model 'nosuch/model'")
            #expect(tree.registry.count == 0)

            #expect(try await tree.writeControl(Self.ctl, "create made t/gate\n").write == .written(19))
            let made = try #require(tree.registry.socket(named: "made"))
            #expect(made.info.model == "t/gate" && made.info.uid == Callers.daemon.uid && made.info.gid == Callers.daemon.gid)
            #expect(made.info.mode == 0o755, "the daemon's, not the writer's")
            #expect(tree.session.invalidations.contains(.entry(parent: Tree.root, name: "made")), "ls is not stale")

            #expect(try await tree.writeControl(Self.ctl, "create second\ncreate made\ncreate third\n").write == .error(.EEXIST))
            #expect(try await Self.errorLine(tree) == "create made: socket 'made' exists")
            #expect(tree.registry.socket(named: "second") != nil, "the command before the failure stays done")
            #expect(tree.registry.socket(named: "third") == nil, "the first failure stops the rest")

            #expect(try await tree.writeControl(Self.ctl, "create third\ncreate fourth\n").write == .error(.ENOSPC))
            #expect(try await Self.errorLine(tree) == "create fourth: socket limit (3) reached")
            #expect(tree.registry.count == 3)
        }
    }

    @Test("/ai/ctl reload: a bad configuration fails the write with EINVAL and keeps the old one")
    func reloadOfABadConfiguration() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "config.toml: line 3: expected '='" } }
        try await withTree { tree in
            tree.environment.setReloader { throw Broken() }
            #expect(try await tree.writeControl(Self.ctl, "reload\n").write == .error(.EINVAL))
            let status = try await tree.cat(Self.ctl)
            #expect(Tree.value("config", in: status) == "reload failed, previous configuration kept: config.toml: line 3: expected '='")
            #expect(try await Self.errorLine(tree) == "reload: config.toml: line 3: expected '='")
            #expect(try await tree.cat(InodeScheme.models) == "echo\necho/slow\nt/gate\nt/fail\nt/gate-fail\n", "the old catalog stays")
        }
    }

    @Test("/ai/ctl: chmod and chown are EPERM; truncation is accepted and ignored")
    func daemonControlAttributes() async throws {
        try await withTree { (tree: Tree) async throws in
            #expect(try await tree.setattrError(Self.ctl, SetAttributes(mode: 0o600)) == .EPERM)
            #expect(try await tree.setattrError(Self.ctl, SetAttributes(uid: 0)) == .EPERM)
            #expect(try await tree.setattrError(Self.ctl, SetAttributes(gid: 0), as: Callers.root) == .EPERM)
            #expect(try await tree.setattrError(Self.ctl, SetAttributes(size: 0)) == nil)
            #expect(try await tree.session.getattr(inode: Self.ctl).reply.attributes?.permissions == 0o644)
        }
    }

    @Test("/ai/models lists the models; EACCES for writing; truncate, chmod, chown EPERM; lookup below it ENOTDIR")
    func modelsFile() async throws {
        try await withTree { tree in
            let models = InodeScheme.models
            #expect(try await tree.cat(models) == "echo\necho/slow\nt/gate\nt/fail\nt/gate-fail\n")
            let attributes = try await tree.session.getattr(inode: models).reply.attributes
            #expect(attributes?.permissions == 0o444 && attributes?.size == 41)
            #expect(try await tree.openError(models, O_WRONLY) == .EACCES)
            #expect(try await tree.openError(models, O_RDWR) == .EACCES)
            #expect(try await tree.openError(models, O_WRONLY | O_TRUNC) == .EACCES)
            #expect(try await tree.openError(models, O_RDONLY) == nil)
            #expect(try await tree.setattrError(models, SetAttributes(size: 0)) == .EPERM)
            #expect(try await tree.setattrError(models, SetAttributes(mode: 0o666)) == .EPERM)
            #expect(try await tree.setattrError(models, SetAttributes(uid: 1000, gid: 1000), as: Callers.root) == .EPERM)
            #expect(try await tree.lookup(models, "x") == .error(.ENOTDIR))
            #expect(try await tree.lookup(InodeScheme.daemonControl, "x") == .error(.ENOTDIR))
            #expect(try await tree.session.opendir(inode: models).reply == .error(.ENOTDIR))
        }
    }
}
