@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A socket's `chat`, in-process: one private exchange per descriptor (docs/file-protocol.md,
/// "`chat`").
@Suite("tree: chat", .timeLimit(.minutes(1)))
struct TreeChatTests {
    @Test("write then read: the reply comes back on this descriptor only, then EOF; a second message is EINVAL")
    func chatExchange() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let chat = try await tree.open(s, .chat, O_RDWR)
            #expect(chat.options == [.directIO, .nonSeekable])
            #expect(try await tree.session.write(chat, "just ").reply == .written(5))
            #expect(try await tree.session.write(chat, "us").reply == .written(2))
            #expect(try await tree.readToEnd(chat) == "just us\n")
            #expect(try await tree.session.write(chat, "again").reply == .error(.EINVAL), "one exchange per descriptor")
            #expect(try await tree.session.flush(chat).reply == .ok)
            _ = try await tree.session.release(chat).reply
            #expect(try await tree.cat(s, .output) == "", "never in output")
            let transcript = try await tree.cat(s, .transcript)
            #expect(transcript.hasPrefix("[team-chat-to-s] [chat] ") && transcript.contains(" uid=1000 id=1\njust us\n"))
            #expect(Tree.value("messages", in: try await tree.cat(s, .ctl)) == "1")
            // An open without writing reads EOF at once.
            let silent = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.read(silent).reply == .data([]))
            _ = try await tree.session.release(silent).reply
        }
    }

    @Test("two chats on one socket never see each other's replies")
    func chatsArePrivate() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let one = try await tree.open(s, .chat, O_RDWR)
            let two = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.write(one, "from one").reply == .written(8))
            #expect(try await tree.session.write(two, "from two").reply == .written(8))
            let second = tree.session.read(two)
            #expect(try await tree.readToEnd(one) == "from one\n")
            let first = try #require(try await second.reply.text)
            #expect(first + (try await tree.readToEnd(two)) == "from two\n")
            for file in [one, two] { _ = try await tree.session.release(file).reply }
        }
    }

    @Test("open of an unresponsive socket's chat is EHOSTDOWN; a message over [limits] message_bytes is EFBIG")
    func chatRefusals() async throws {
        try await withTree(limits: .with { $0.maxMessageBytes = 8 }) { tree in
            let s = try await tree.mkdir("s")
            let chat = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.write(chat, "12345").reply == .written(5))
            #expect(try await tree.session.write(chat, "6789").reply == .error(.EFBIG))
            #expect(try await tree.session.write(chat, "678").reply == .written(3), "what was written before still counts")
            #expect(try await tree.readToEnd(chat) == "12345678\n")
            _ = try await tree.session.release(chat).reply
            #expect(try await tree.cat(s, .error).contains(" chat message over 8 bytes refused\n"))
            #expect(try await tree.control(s, "state unresponsive\n").write == .written(19))
            #expect(try await tree.session.open(inode: tree.inode(s, .chat), flags: O_RDWR).reply == .error(.EHOSTDOWN))
            #expect(try await tree.cat(s, .error).contains(" input socket is unresponsive; write 'state active' to ctl to use it again\n"))
        }
    }

    @Test("a message refused when it is sent: the read (or the close) answers EAGAIN, EHOSTDOWN or ENOENT")
    func refusedWhenSent() async throws {
        try await withTree(limits: .with { $0.maxQueue = 1 }) { tree in
            // Queue full.
            let busy = try await tree.mkdir("busy")
            #expect(try await tree.control(busy, "model t/gate\n").write == .written(13))
            #expect(try await tree.send(busy, "hold") == .ok)
            let full = try await tree.open(busy, .chat, O_RDWR)
            #expect(try await tree.session.write(full, "x").reply == .written(1))
            #expect(try await tree.session.read(full).reply == .error(.EAGAIN))
            #expect(try await tree.session.read(full).reply == .data([]), "then the exchange is over")
            _ = try await tree.session.release(full).reply
            let fullOnClose = try await tree.open(busy, .chat, O_WRONLY)
            #expect(try await tree.session.write(fullOnClose, "x").reply == .written(1))
            #expect(try await tree.session.flush(fullOnClose).reply == .error(.EAGAIN))
            _ = try await tree.session.release(fullOnClose).reply
            #expect(try await tree.cat(busy, .error).contains(" chat queue full (1 unanswered messages); message not queued\n"))

            // Unresponsive after the open.
            let down = try await tree.mkdir("down")
            let late = try await tree.open(down, .chat, O_RDWR)
            let lateClose = try await tree.open(down, .chat, O_WRONLY)
            #expect(try await tree.session.write(late, "x").reply == .written(1))
            #expect(try await tree.session.write(lateClose, "x").reply == .written(1))
            #expect(try await tree.control(down, "state unresponsive\n").write == .written(19))
            #expect(try await tree.session.read(late).reply == .error(.EHOSTDOWN))
            #expect(try await tree.session.flush(lateClose).reply == .error(.EHOSTDOWN))
            for file in [late, lateClose] { _ = try await tree.session.release(file).reply }

            // Removed after the open.
            let gone = try await tree.mkdir("gone")
            let orphan = try await tree.open(gone, .chat, O_RDWR)
            let orphanClose = try await tree.open(gone, .chat, O_WRONLY)
            #expect(try await tree.session.write(orphan, "x").reply == .written(1))
            #expect(try await tree.session.write(orphanClose, "x").reply == .written(1))
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "gone").reply == .ok)
            #expect(try await tree.session.read(orphan).reply == .error(.ENOENT))
            #expect(try await tree.session.flush(orphanClose).reply == .error(.ENOENT))
            for file in [orphan, orphanClose] { _ = try await tree.session.release(file).reply }
            tree.provider.release()
        }
    }

    @Test("while the reply is on its way: O_NONBLOCK is EAGAIN, poll not readable, an interrupted read EINTR; then the reply")
    func chatWaitsForItsReply() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            let chat = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.write(chat, "q").reply == .written(1))
            #expect(try await tree.session.read(chat, flags: O_RDWR | O_NONBLOCK).reply == .error(.EAGAIN), "sent, not answered yet")
            let poll = tree.session.poll(chat)
            #expect(try await poll.reply.pollEvents?.contains(.readable) == false)
            let interrupted = tree.session.read(chat)
            #expect(interrupted.answer == nil)
            tree.session.interrupt(interrupted)
            #expect(try await interrupted.reply == .error(.EINTR))
            let read = tree.session.read(chat)
            #expect(read.answer == nil && tree.session.parkedCount == 1)
            tree.provider.release()
            try await poll.pollNotification()
            #expect(try await read.reply.text?.hasPrefix("gated: q") == true)
            _ = try await tree.session.release(chat).reply
        }
    }

    @Test("a failed request reads as EIO once, then EOF; cancel ends the reply with EOF")
    func failedChatIsEIO() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/fail\n").write == .written(13))
            let chat = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.write(chat, "q").reply == .written(1))
            #expect(try await tree.session.read(chat).reply == .error(.EIO))
            #expect(try await tree.session.read(chat).reply == .data([]))
            _ = try await tree.session.release(chat).reply
            #expect(try await tree.cat(s, .error).contains(" request message 1 failed: HTTP 500: broken on purpose\n"))

            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            let cancelled = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.write(cancelled, "q").reply == .written(1))
            let read = tree.session.read(cancelled)
            await tree.provider.waitUntilStarted(2)
            #expect(try await tree.control(s, "cancel\n").write == .written(7))
            #expect(try await read.reply == .data([]), "EOF, not EIO")
            _ = try await tree.session.release(cancelled).reply
        }
    }
}

/// `chat` and `poll` (docs/file-protocol.md, "Decisions…": polling a chat descriptor that holds
/// an unsent message sends it, as the first read would).
@Suite("tree: chat and poll", .timeLimit(.minutes(1)))
struct TreeChatPollTests {
    @Test("poll of a chat holding an unsent message sends it; it is readable once the reply is there")
    func pollSendsTheMessage() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            let chat = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.write(chat, "q").reply == .written(1))
            let poll = tree.session.poll(chat)
            #expect(try await poll.reply.pollEvents?.contains(.readable) == false)
            await tree.provider.waitUntilStarted()
            #expect(tree.registry.socket(id: s)?.info.messages == 1, "sent by the poll")
            tree.provider.release()
            try await poll.pollNotification()
            #expect(try await tree.session.poll(chat).reply.pollEvents?.contains(.readable) == true)
            #expect(try await tree.readToEnd(chat) == "gated: q\n")
            _ = try await tree.session.release(chat).reply
        }
    }

    @Test("a message refused when a poll sends it is still the answer of the next read and of the close")
    func pollKeepsTheRefusal() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let chat = try await tree.open(s, .chat, O_RDWR)
            let closing = try await tree.open(s, .chat, O_RDWR)
            for file in [chat, closing] { #expect(try await tree.session.write(file, "q").reply == .written(1)) }
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok)
            for file in [chat, closing] { _ = try await tree.session.poll(file).reply }  // sends it: refused (POLLERR)
            #expect(try await tree.session.read(chat).reply == .error(.ENOENT), "as the first read would have answered")
            #expect(try await tree.session.read(chat).reply == .data([]), "then the exchange is over")
            #expect(try await tree.session.flush(closing).reply == .error(.ENOENT), "as the close would have answered")
            for file in [chat, closing] { _ = try await tree.session.release(file).reply }
        }
    }

    @Test("a chat descriptor polls writable until its message is sent (every file but output is always writable)")
    func chatIsWritableUntilSent() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let chat = try await tree.open(s, .chat, O_RDWR)
            #expect(try await tree.session.poll(chat).reply.pollEvents?.contains(.writable) == true)
            _ = try await tree.session.release(chat).reply
        }
    }
}
