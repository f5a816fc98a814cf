@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A socket's `output` and `error`, in-process: parked reads, EOF rules, `O_NONBLOCK`, poll,
/// interrupts and the failure mark (docs/file-protocol.md, "`output`", "`error`"). Replies are
/// held by ``GateProvider`` for as long as a test needs them pending.
@Suite("tree: output and error", .timeLimit(.minutes(1)))
struct TreeOutputTests {
    /// A socket on the gated model, with one message committed (its reply held).
    func gatedSocket(_ tree: Tree, _ message: String = "q") async throws -> SocketID {
        let s = try await tree.mkdir("s")
        #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
        #expect(try await tree.send(s, message) == .ok)
        return s
    }

    @Test("O_NONBLOCK while a reply is pending is EAGAIN; poll is not readable until it arrives, then notified; then EOF")
    func nonBlockingAndPoll() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree)
            let output = try await tree.open(s, .output)
            #expect(try await tree.session.read(output, flags: O_RDONLY | O_NONBLOCK).reply == .error(.EAGAIN))
            let poll = tree.session.poll(output)
            #expect(try await poll.reply == .poll([]))
            #expect(poll.pollNotifications == 0)
            tree.provider.release()
            try await poll.pollNotification()
            #expect(try await tree.session.poll(output).reply == .poll(.readable))
            #expect(try await tree.readToEnd(output) == "gated: q\n")
            #expect(try await tree.session.read(output, flags: O_RDONLY | O_NONBLOCK).reply == .data([]), "nothing pending: EOF, not EAGAIN")
            #expect(try await tree.session.poll(output).reply == .poll(.readable), "EOF is readable")
            _ = try await tree.session.release(output).reply
        }
    }

    @Test("a blocked read is parked without a thread and answered when the reply arrives; readers share one queue in order")
    func parkedReadersInOrder() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree, "abcdefgh")
            let output = try await tree.open(s, .output)
            let first = tree.session.read(output, size: 4)
            let second = tree.session.read(output, size: 100)
            #expect(first.answer == nil && second.answer == nil && tree.session.parkedCount == 2)
            tree.provider.release()
            #expect(try await first.reply == .data(Array("gate".utf8)))
            #expect(try await second.reply == .data(Array("d: abcdefgh".utf8)), "the rest of the text, as it streamed in")
            #expect(try await tree.readToEnd(output) == "\n", "the newline that ends the reply, then EOF")
            _ = try await tree.session.release(output).reply
        }
    }

    @Test("a failed request: the read that reaches its mark is EIO once, then the next reply or EOF; the reason is in error")
    func failedRequestIsEIOOnce() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate-fail\n").write == .written(18))
            #expect(try await tree.send(s, "doomed") == .ok)
            let output = try await tree.open(s, .output)
            let read = tree.session.read(output)
            #expect(read.answer == nil)
            tree.provider.release()
            #expect(try await read.reply == .error(.EIO))
            #expect(try await tree.session.read(output).reply == .data([]), "EIO once, then EOF")
            // The queue goes on.
            #expect(try await tree.control(s, "model echo\n").write == .written(11))
            #expect(try await tree.send(s, "fine") == .ok)
            #expect(try await tree.readToEnd(output) == "fine\n")
            _ = try await tree.session.release(output).reply
            #expect(try await tree.cat(s, .error).contains(" request message 1 failed: HTTP 502: failed after the gate\n"))
            #expect(try await tree.cat(s, .transcript).contains("[error] "))
        }
    }

    @Test("an interrupted blocked read is EINTR; another parked reader is not affected and gets the reply")
    func interruptedReader() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree)
            let output = try await tree.open(s, .output)
            let interrupted = tree.session.read(output)
            let patient = tree.session.read(output)
            #expect(tree.session.parkedCount == 2)
            tree.session.interrupt(interrupted)
            #expect(try await interrupted.reply == .error(.EINTR))
            #expect(patient.answer == nil && tree.session.parkedCount == 1)
            tree.provider.release()
            #expect(try await patient.reply == .data(Array("gated: q".utf8)), "the text as it arrives")
            #expect(interrupted.replyCount == 1 && patient.replyCount == 1)
            #expect(try await tree.readToEnd(output) == "\n")
            _ = try await tree.session.release(output).reply
        }
    }

    @Test("a read blocked when the daemon stops gets EIO")
    func stopAnswersParkedReadersEIO() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree)
            let output = try await tree.open(s, .output)
            let read = tree.session.read(output)
            await tree.provider.waitUntilStarted()
            #expect(read.answer == nil)
            await tree.session.stop()
            #expect(try await read.reply == .error(.EIO))
            #expect(try await tree.session.read(output).reply == .error(.ENOTCONN), "after the stop nothing reaches the tree")
        }
    }

    @Test("rmdir of the socket ends parked reads with EOF, not an error")
    func removalEndsParkedReads() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree)
            let output = try await tree.open(s, .output)
            let read = tree.session.read(output)
            await tree.provider.waitUntilStarted()
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok)
            #expect(try await read.reply == .data([]))
            #expect(try await tree.session.read(output).reply == .data([]), "the open descriptor keeps reading EOF")
            _ = try await tree.session.release(output).reply
        }
    }

    @Test("cancel ends the reply without EIO and the next message starts; error and transcript say so")
    func cancelEndsTheReply() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree, "one")
            #expect(try await tree.control(s, "model echo\n").write == .written(11))
            #expect(try await tree.send(s, "two") == .ok)
            await tree.provider.waitUntilStarted()
            #expect(try await tree.control(s, "cancel\n").write == .written(7))
            #expect(try await tree.cat(s, .output) == "two\n", "no EIO for the cancelled one")
            #expect(try await tree.cat(s, .error).contains(" request message 1 cancelled: cancelled by ctl\n"))
            #expect(try await tree.cat(s, .transcript).contains("[cancelled] "))
        }
    }

    @Test("error never blocks: empty is EOF at once, even while a reply is pending; reading consumes it")
    func errorNeverBlocks() async throws {
        try await withTree { tree in
            let s = try await gatedSocket(tree)
            let error = try await tree.open(s, .error)
            #expect(error.options == [.directIO, .nonSeekable])
            #expect(try await tree.session.read(error).reply == .data([]))
            #expect(try await tree.control(s, "bogus\n").write == .error(.EINVAL))
            let line = try #require(try await tree.session.read(error).reply.text)
            #expect(line.hasSuffix(" ctl unknown command 'bogus'\n"))
            #expect(try await tree.session.read(error).reply == .data([]), "consumed")
            _ = try await tree.session.release(error).reply
            #expect(try await tree.cat(s, .error) == "", "shared by every reader")
            tree.provider.release()
        }
    }
}
