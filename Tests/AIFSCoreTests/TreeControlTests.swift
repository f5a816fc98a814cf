@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A socket's `ctl`, in-process: the status read at open, commands applied by the write that
/// completes their line, all or nothing per write (docs/file-protocol.md, "`ctl` (per socket)").
@Suite("tree: a socket's ctl", .timeLimit(.minutes(1)))
struct TreeControlTests {
    @Test("ctl reads key: value lines fixed at open; settings appear once set")
    func status() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("apollo")
            let before = try await tree.cat(s, .ctl)
            #expect(Tree.value("name", in: before) == "apollo")
            #expect(Tree.value("model", in: before) == "echo")
            #expect(Tree.value("state", in: before) == "active")
            #expect(Tree.value("owner", in: before) == "1000:1000")
            #expect(Tree.value("temperature", in: before) == nil)
            let line = "set temperature 0.7\nheaders on\n# a comment\n\nset capabilities \"writes SQL\"\r\n"
            #expect(try await tree.control(s, line).write == .written(line.utf8.count))
            let after = try await tree.cat(s, .ctl)
            #expect(Tree.value("temperature", in: after) == "0.7")
            #expect(Tree.value("headers", in: after) == "on")
            #expect(Tree.value("capabilities", in: after) == "writes SQL")
            #expect(try await tree.send(s, "hi") == .ok)
            #expect(try await tree.cat(s, .output) == "[team-chat-from-apollo]\nhi\n")
        }
    }

    @Test("last-latency is - until a request ends, then its seconds; errors counts error lines, read or not")
    func latencyAndErrors() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let before = try await tree.cat(s, .ctl)
            #expect(Tree.value("last-latency", in: before) == "-" && Tree.value("errors", in: before) == "0")
            #expect(try await tree.send(s, "hi") == .ok)
            #expect(try await tree.cat(s, .output) == "hi\n")
            let latency = Tree.value("last-latency", in: try await tree.cat(s, .ctl))
            #expect(latency.flatMap(Double.init).map { $0 >= 0 } == true, "\(latency ?? "nil")")
            _ = try await tree.control(s, "bogus\n")
            _ = try await tree.control(s, "state asleep\n")
            #expect(Tree.value("errors", in: try await tree.cat(s, .ctl)) == "2")
            _ = try await tree.cat(s, .error)  // consumes the lines; the count stays
            #expect(Tree.value("errors", in: try await tree.cat(s, .ctl)) == "2")
        }
        #expect(SocketInfo.seconds(0.000132) == "0.000132" && SocketInfo.seconds(2.5) == "2.5" && SocketInfo.seconds(3) == "3.0")
        #expect(SocketInfo.seconds(0.0000004) == "0.0" && SocketInfo.seconds(61.25) == "61.25")
    }

    @Test("a bad complete line fails its write with EINVAL, the reason in error; nothing of that write is applied")
    func badLinesFailTheWrite() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let cases: [(bytes: [UInt8], reason: String)] = [
                (Array("bogus\n".utf8), "unknown command 'bogus'"),
                (Array("state\n".utf8), "usage: state active|inactive|unresponsive"),
                (Array("state asleep\n".utf8), "unknown state 'asleep' (active, inactive, unresponsive)"),
                (Array("set temperature 3\n".utf8), "temperature must be a number from 0 to 2"),
                (Array("set colour blue\n".utf8), "unknown setting 'colour'"),
                (Array("headers maybe\n".utf8), "usage: headers on|off"),
                (Array("model nosuch/model\n".utf8), "unknown model 'nosuch/model' (see /ai/models)"),
                (Array("fork .bad\n".utf8), "fork: name starts with '.'"),
                (Array(("set capabilities " + String(repeating: "x", count: 4100) + "\n").utf8), "line longer than 4096 bytes"),
                ([0x68, 0xC3, 0x28, 0x0A], "ctl text is not valid UTF-8"),
                (Array("headers on\nbogus\n".utf8), "unknown command 'bogus'"),
                (Array("headers on\nmodel nosuch\n".utf8), "unknown model 'nosuch' (see /ai/models)"),
            ]
            for (bytes, reason) in cases {
                let (write, close) = try await tree.control(s, bytes)
                #expect(write == .error(.EINVAL), "\(reason)")
                #expect(close == .ok)
                let errors = try await tree.cat(s, .error)
                #expect(errors.contains(" ctl \(reason)"), "\(errors)")
            }
            #expect(Tree.value("headers", in: try await tree.cat(s, .ctl)) == "off", "all or nothing per write")
            // Over 64 KiB pending on one descriptor.
            let file = try await tree.open(s, .ctl, O_WRONLY)
            #expect(try await tree.session.write(file, "headers on\n").reply == .written(11))
            #expect(try await tree.session.write(file, [UInt8](repeating: 0x23, count: 70_000)).reply == .error(.EINVAL))
            #expect(try await tree.session.flush(file).reply == .ok)
            _ = try await tree.session.release(file).reply
            #expect(try await tree.cat(s, .error).contains(" ctl ctl write over 65536 bytes\n"))
            #expect(Tree.value("headers", in: try await tree.cat(s, .ctl)) == "on", "an earlier successful write stays applied")
        }
    }

    @Test("wire: ENOENT for no such socket, ELOOP onto itself or back round a loop; the reason in error")
    func wireRefusals() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a")
            let b = try await tree.mkdir("b")
            #expect(try await tree.control(a, "wire nosuch\n").write == .error(.ENOENT))
            #expect(try await tree.cat(a, .error).contains(" ctl wire: no socket 'nosuch'\n"))
            #expect(try await tree.control(a, "wire a\n").write == .error(.ELOOP))
            #expect(try await tree.cat(a, .error).contains(" ctl wire a: that would make a loop (a socket cannot be wired to itself)\n"))
            #expect(try await tree.control(a, "wire b\n").write == .written(7))
            #expect(Tree.value("wire", in: try await tree.cat(a, .ctl)) == "b")
            #expect(try await tree.control(b, "headers on\nwire a\n").write == .error(.ELOOP))
            #expect(try await tree.cat(b, .error).contains(" ctl wire a: that would make a loop (a already leads to this socket)\n"))
            #expect(Tree.value("headers", in: try await tree.cat(b, .ctl)) == "off", "nothing of the refused write")
            // The pipeline works: a's reply arrives at b, whose reply is in b's output.
            #expect(try await tree.send(a, "pass it on") == .ok)
            #expect(try await tree.cat(b, .output) == "pass it on\n")
            #expect(try await tree.cat(a, .output) == "")
        }
    }

    @Test("wire to a socket the writer may not write to is EACCES")
    func wireToAnotherUsersSocket() async throws {
        try await withTree { tree in
            try await tree.mkdir("private", mode: 0o700)
            let mine = try await tree.mkdir("mine", as: Callers.other)
            #expect(try await tree.control(mine, "wire private\n", as: Callers.other).write == .error(.EACCES))
            #expect(try await tree.cat(mine, .error).contains(" ctl wire: uid 2000 may not write to private's input\n"))
            #expect(Tree.value("wire", in: try await tree.cat(mine, .ctl)) == "-")
        }
    }

    @Test("a bad trailing partial line fails the close with EINVAL; a good one is applied there; truncation is accepted")
    func trailingPartialLine() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let file = try await tree.open(s, .ctl, O_WRONLY | O_TRUNC)
            #expect(try await tree.setattrError(tree.inode(s, .ctl), SetAttributes(size: 0), file: file) == nil, "> works")
            #expect(try await tree.session.write(file, "headers on\nset temperature 0.").reply == .written(29))
            #expect(Tree.value("headers", in: try await tree.cat(s, .ctl)) == "on", "the complete line, at its write")
            #expect(Tree.value("temperature", in: try await tree.cat(s, .ctl)) == nil, "the partial line waits")
            #expect(try await tree.session.write(file, "5").reply == .written(1))
            #expect(try await tree.session.flush(file).reply == .ok)
            #expect(Tree.value("temperature", in: try await tree.cat(s, .ctl)) == "0.5", "applied at the close")
            #expect(try await tree.session.write(file, "set temperature 9").reply == .written(17))
            #expect(try await tree.session.flush(file).reply == .error(.EINVAL))
            _ = try await tree.session.release(file).reply
            #expect(try await tree.cat(s, .error).contains(" ctl temperature must be a number from 0 to 2\n"))
            #expect(Tree.value("temperature", in: try await tree.cat(s, .ctl)) == "0.5")
        }
    }

    @Test("fork makes a socket belonging to the writer (ls shows it at once); an existing name refuses the write with EINVAL")
    func fork() async throws {
        try await withTree { tree in
            let a = try await tree.mkdir("a", mode: 0o750)
            try await tree.mkdir("taken")
            #expect(try await tree.control(a, "set temperature 0.3\nfork b\n", as: Callers.root).write == .written(27))
            let b = try #require(tree.registry.socket(named: "b"))
            #expect(b.info.uid == 0 && b.info.mode == 0o750 && b.info.settings[.temperature] == "0.3")
            #expect(tree.session.invalidations.contains(.entry(parent: Tree.root, name: "b")))
            #expect(try await tree.control(a, "fork taken\n").write == .error(.EINVAL))
            #expect(try await tree.cat(a, .error).contains(" ctl fork: socket 'taken' exists\n"))
        }
    }

    @Test("reset by another user is EPERM; by the owner it clears the queue, output and context and parked readers get EOF")
    func reset() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s", mode: 0o777)
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            #expect(try await tree.send(s, "one") == .ok)
            #expect(try await tree.send(s, "two") == .ok)
            let output = try await tree.open(s, .output)
            let read = tree.session.read(output)
            await tree.provider.waitUntilStarted()
            #expect(try await tree.control(s, "reset\n", as: Callers.other).write == .error(.EPERM))
            #expect(read.answer == nil)
            #expect(try await tree.control(s, "reset\n").write == .written(6))
            #expect(try await read.reply == .data([]))
            _ = try await tree.session.release(output).reply
            let status = try await tree.cat(s, .ctl)
            #expect(Tree.value("queued", in: status) == "0" && Tree.value("in-flight", in: status) == "0")
            #expect(try await tree.cat(s, .transcript).contains("[reset] "))
            let errors = try await tree.cat(s, .error)
            #expect(errors.contains(" ctl reset: only the socket's owner or root may reset it\n"))
        }
    }
}

extension Tree {
    /// `ctl` bytes written in one write.
    func control(_ socket: SocketID, _ bytes: [UInt8], as caller: RequestContext? = nil) async throws -> (write: Reply, close: Reply) {
        try await writeControl(inode(socket, .ctl), bytes, as: caller)
    }
}
