@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/team-chat-all/`, in-process: rounds, their refusals and the shared output
/// (docs/file-protocol.md, "`/ai/team-chat-all/`").
@Suite("tree: team-chat-all", .timeLimit(.minutes(1)))
struct TreeTeamTests {
    static let dir = InodeScheme.teamChat
    static func file(_ file: TeamFile) -> Inode { InodeScheme.inode(team: file) }

    /// One message to `team-chat-all/input`: the close's answer.
    static func send(_ tree: Tree, _ text: String) async throws -> Reply {
        let input = try await tree.session.open(inode: file(.input), flags: O_WRONLY).file
        let written = try await tree.session.write(input, text).reply
        #expect(written == .written(text.utf8.count))
        let closed = try await tree.session.flush(input).reply
        _ = try await tree.session.release(input).reply
        return closed
    }

    @Test("the directory: its four files and modes; EACCES in the wrong direction; rmdir and rm -r EPERM; nothing made inside")
    func teamDirectory() async throws {
        try await withTree { (tree: Tree) async throws in
            #expect(try await tree.list(Self.dir) == [".", "..", "input", "output", "error", "ctl"])
            let modes: [TeamFile: UInt32] = [.input: 0o222, .output: 0o444, .error: 0o444, .ctl: 0o644]
            for (file, mode) in modes {
                #expect(try await tree.lookup(Self.dir, file.name).entry?.attributes.permissions == mode, "\(file.name)")
            }
            #expect(try await tree.lookup(Self.dir, "nope") == .error(.ENOENT))
            #expect(try await tree.lookup(Self.file(.output), "x") == .error(.ENOTDIR))
            for (file, flags) in [(TeamFile.input, O_RDONLY), (.input, O_RDWR), (.output, O_WRONLY), (.output, O_RDWR),
                                  (.error, O_WRONLY), (.error, O_RDWR)] {
                #expect(try await tree.openError(Self.file(file), flags) == .EACCES, "\(file.name) flags \(flags)")
            }
            for (file, flags) in [(TeamFile.input, O_WRONLY), (.output, O_RDONLY), (.error, O_RDONLY), (.ctl, O_RDWR)] {
                #expect(try await tree.openError(Self.file(file), flags) == nil, "\(file.name) flags \(flags)")
            }
            // rm -r team-chat-all: unlinking the files does nothing, the rmdir is refused.
            for file in TeamFile.allCases {
                #expect(try await tree.session.unlink(parent: Self.dir, name: file.name).reply == .ok)
            }
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "team-chat-all").reply == .error(.EPERM))
            #expect(try await tree.session.rmdir(parent: Self.dir, name: "input").reply == .error(.ENOTDIR))
            #expect(try await tree.list(Self.dir).count == 6)
            #expect(try await tree.session.mkdir(parent: Self.dir, name: "x").reply == .error(.EPERM))
            #expect(try await tree.session.mkdir(parent: Self.file(.ctl), name: "x").reply == .error(.ENOTDIR))
            #expect(try await tree.session.create(parent: Self.dir, name: "x").reply == .error(.EPERM))
            #expect(try await tree.setattrError(Self.file(.ctl), SetAttributes(mode: 0o666)) == .EPERM)
            #expect(try await tree.setattrError(Self.file(.output), SetAttributes(size: 0)) == .EPERM)
        }
    }

    @Test("a broadcast goes to every active socket; each reply is printed whole in output, not in the member's own; then EOF")
    func aRoundCollectsEveryReply() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a")
            try await tree.mkdir("b")
            let c = try await tree.mkdir("c")
            #expect(try await tree.control(c, "state inactive\n").write == .written(15))
            #expect(try await Self.send(tree, "hello all") == .ok)
            let text = try await tree.cat(Self.file(.output))
            #expect(text.contains("[team-chat-from-a]\nhello all\n") && text.contains("[team-chat-from-b]\nhello all\n"))
            #expect(!text.contains("team-chat-from-c"), "inactive sockets are skipped")
            #expect(text.utf8.count == 2 * "[team-chat-from-a]\nhello all\n".utf8.count)
            #expect(try await tree.cat(a, .output) == "")
            #expect(try await tree.cat(a, .transcript).hasPrefix("[broadcast] "))
            #expect(try await tree.cat(Self.file(.output)) == "", "consumed; no round open: EOF")
            // Directed: an inactive socket is reached too.
            #expect(try await Self.send(tree, "[team-chat-to-c] just you") == .ok)
            #expect(try await tree.cat(Self.file(.output)) == "[team-chat-from-c]\njust you\n")
        }
    }

    @Test("a message over [limits] message_bytes is EFBIG, sticky for the descriptor; nothing is sent")
    func oversizedTeamMessage() async throws {
        try await withTree(limits: .with { $0.maxMessageBytes = 10 }) { tree in
            let a = try await tree.mkdir("a")
            let input = try await tree.session.open(inode: Self.file(.input), flags: O_WRONLY).file
            #expect(try await tree.session.write(input, "0123456789x").reply == .error(.EFBIG))
            #expect(try await tree.session.write(input, "ok").reply == .error(.EFBIG))
            #expect(try await tree.session.flush(input).reply == .error(.EFBIG))
            _ = try await tree.session.release(input).reply
            #expect(try await tree.cat(Self.file(.error)).contains(" input message over 10 bytes refused (EFBIG); nothing was sent\n"))
            #expect(tree.registry.socket(id: a)?.info.messages == 0)
        }
    }

    @Test("a [team-chat-to-NAME] that names no socket fails the close with ENOENT; nothing is sent to the others")
    func directedToAMissingSocket() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a")
            #expect(try await Self.send(tree, "[team-chat-to-a] [team-chat-to-nosuch] hi") == .error(.ENOENT))
            #expect(try await tree.cat(Self.file(.error)).contains(" team no socket named nosuch; message not sent\n"))
            #expect(tree.registry.socket(id: a)?.info.messages == 0)
            #expect(try await tree.cat(Self.file(.output)) == "")
        }
    }

    @Test("a team message of headers only fails the close with EINVAL; malformed headers are content")
    func teamHeadersWithoutContent() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a")
            #expect(try await Self.send(tree, "[team-chat-to-a] [priority-high]") == .error(.EINVAL))
            #expect(try await tree.cat(Self.file(.error)).contains(" team the message has headers but no content; message not sent\n"))
            #expect(tree.registry.socket(id: a)?.info.messages == 0)
            #expect(try await Self.send(tree, "[team-chat-to-] [note] hi") == .ok, "a broadcast of content")
            #expect(try await tree.cat(Self.file(.output)) == "[team-chat-from-a]\n[team-chat-to-] [note] hi\n")
        }
    }

    @Test("another user's broadcast reaches only sockets they may write to; a directed send to one they may not is EACCES")
    func teamRespectsSocketModes() async throws {
        try await withTree { tree in
            let closed = try await tree.mkdir("closed", mode: 0o700)
            let input = try await tree.session.open(inode: Self.file(.input), flags: O_WRONLY, as: Callers.other).file
            #expect(try await tree.session.write(input, "[team-chat-to-closed] hi", as: Callers.other).reply == .written(24))
            #expect(try await tree.session.flush(input, as: Callers.other).reply == .error(.EACCES))
            _ = try await tree.session.release(input).reply
            #expect(try await tree.cat(Self.file(.error)).contains(" team uid 2000 may not write to closed; message not sent\n"))
            let broadcast = try await tree.session.open(inode: Self.file(.input), flags: O_WRONLY, as: Callers.other).file
            #expect(try await tree.session.write(broadcast, "all", as: Callers.other).reply == .written(3))
            #expect(try await tree.session.flush(broadcast, as: Callers.other).reply == .error(.ENXIO), "no socket they may write to")
            _ = try await tree.session.release(broadcast).reply
            #expect(tree.registry.socket(id: closed)?.info.messages == 0)
        }
    }

    @Test("a broadcast that finds no active socket fails the close with ENXIO")
    func broadcastWithNoActiveSocket() async throws {
        try await withTree { tree in
            #expect(try await Self.send(tree, "anyone?") == .error(.ENXIO))
            let quiet = try await tree.mkdir("quiet")
            #expect(try await tree.control(quiet, "state inactive\n").write == .written(15))
            #expect(try await Self.send(tree, "anyone?") == .error(.ENXIO))
            let errors = try await tree.cat(Self.file(.error))
            #expect(errors.components(separatedBy: " team no active socket to broadcast to; message not sent\n").count == 3)
            #expect(tree.registry.socket(id: quiet)?.info.messages == 0)
        }
    }

    @Test("when no member takes the message the close fails with the first refusal (EHOSTDOWN, EAGAIN), each also inline")
    func everyMemberRefuses() async throws {
        try await withTree(limits: .with { $0.maxQueue = 1 }) { tree in
            let down = try await tree.mkdir("down")
            #expect(try await tree.control(down, "state unresponsive\n").write == .written(19))
            #expect(try await Self.send(tree, "[team-chat-to-down] hi") == .error(.EHOSTDOWN))
            #expect(try await tree.cat(Self.file(.output)) == "[team-chat-from-down] [error] socket is unresponsive; message not queued\n")

            let full = try await tree.mkdir("full")
            #expect(try await tree.control(full, "model t/gate\n").write == .written(13))
            #expect(try await tree.send(full, "hold") == .ok)
            #expect(try await Self.send(tree, "[team-chat-to-full] hi") == .error(.EAGAIN))
            #expect(try await tree.cat(Self.file(.output)) == "[team-chat-from-full] [error] queue full; message not queued\n")

            // One member takes it: the close succeeds, the refusal is still printed inline.
            let fine = try await tree.mkdir("fine")
            #expect(try await Self.send(tree, "[team-chat-to-down] [team-chat-to-fine] hi") == .ok)
            let text = try await tree.cat(Self.file(.output))
            #expect(text.contains("[team-chat-from-down] [error] socket is unresponsive; message not queued\n"))
            #expect(text.contains("[team-chat-from-fine]\nhi\n"))
            #expect(tree.registry.socket(id: fine)?.info.messages == 1)
            tree.provider.release()
        }
    }

    @Test("output while a round is open: O_NONBLOCK is EAGAIN, poll not readable, an interrupted read EINTR; then the block and EOF")
    func teamOutputNonBlockingAndInterrupted() async throws {
        try await withTree { tree in
            let g = try await tree.mkdir("g")
            #expect(try await tree.control(g, "model t/gate\n").write == .written(13))
            #expect(try await Self.send(tree, "q") == .ok)
            let output = try await tree.session.open(inode: Self.file(.output), flags: O_RDONLY).file
            #expect(output.options == [.directIO, .nonSeekable])
            #expect(try await tree.session.read(output, flags: O_RDONLY | O_NONBLOCK).reply == .error(.EAGAIN))
            let poll = tree.session.poll(output)
            #expect(try await poll.reply == .poll([]))
            let interrupted = tree.session.read(output)
            let patient = tree.session.read(output)
            tree.session.interrupt(interrupted)
            #expect(try await interrupted.reply == .error(.EINTR))
            #expect(patient.answer == nil)
            tree.provider.release()
            try await poll.pollNotification()
            #expect(try await patient.reply.text == "[team-chat-from-g]\ngated: q\n")
            #expect(try await tree.session.read(output).reply == .data([]), "the round is over")
            _ = try await tree.session.release(output).reply
            #expect(try await tree.cat(g, .output) == "")
        }
    }

    @Test("ctl: the settings read as key: value; a bad line is EINVAL with the reason in error, and nothing of it applies")
    func teamControl() async throws {
        try await withTree { tree in
            try await tree.mkdir("a")
            let ctl = Self.file(.ctl)
            let before = try await tree.cat(ctl)
            #expect(Tree.value("mode", in: before) == "fanout" && Tree.value("moderator", in: before) == "-")
            #expect(Tree.value("timeout", in: before) == "300" && Tree.value("members", in: before) == "a")
            #expect(Tree.value("rounds-open", in: before) == "0" && Tree.value("unread-bytes", in: before) == "0")
            for bad in ["mode loud\n", "timeout 0\n", "timeout 86401\n", "bogus\n", "mode discuss\nmoderator\n"] {
                #expect(try await tree.writeControl(ctl, bad).write == .error(.EINVAL), "\(bad.debugDescription)")
            }
            let errors = try await tree.cat(Self.file(.error))
            #expect(errors.split(separator: "\n").count == 5 && errors.split(separator: "\n").allSatisfy { $0.contains(" ctl ") })
            #expect(Tree.value("mode", in: try await tree.cat(ctl)) == "fanout", "all or nothing")
            let good = "mode discuss\nmoderator a\ntimeout 60\n"
            #expect(try await tree.writeControl(ctl, good).write == .written(good.utf8.count))
            let after = try await tree.cat(ctl)
            #expect(Tree.value("mode", in: after) == "discuss" && Tree.value("moderator", in: after) == "a")
            #expect(Tree.value("timeout", in: after) == "60")
        }
    }
}
