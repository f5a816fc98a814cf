@testable import AIFSCore
import FuseKit
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A socket's `input`, in-process: one message per open → close, the close answered once the
/// message is committed, and every errno of its table (docs/file-protocol.md, "`input`").
@Suite("tree: input", .timeLimit(.minutes(1)))
struct TreeInputTests {
    @Test("one open → close is one message; close returns once it is queued; the reply is in output, then EOF")
    func oneMessagePerOpen() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(input.options == [.directIO, .nonSeekable])
            #expect(try await tree.session.write(input, "hello ").reply == .written(6))
            #expect(try await tree.session.write(input, "world", offset: 999).reply == .written(5), "the offset is ignored")
            #expect(try await tree.session.flush(input).reply == .ok)
            #expect(tree.registry.socket(id: s)?.info.messages == 1)
            #expect(try await tree.session.flush(input).reply == .ok, "an empty flush sends nothing")
            _ = try await tree.session.release(input).reply
            #expect(try await tree.cat(s, .output) == "hello world\n")
            #expect(try await tree.cat(s, .output) == "", "consumed; nothing pending: EOF at once")
            #expect(tree.registry.socket(id: s)?.info.messages == 1)
            let transcript = try await tree.cat(s, .transcript)
            #expect(transcript.hasPrefix("[team-chat-to-s] "))
            #expect(transcript.contains(" uid=1000 id=1\nhello world\n[team-chat-from-s] "))
        }
    }

    @Test("open of an unresponsive socket's input is EHOSTDOWN and says so in error; state active opens it again")
    func unresponsiveSocketRefusesOpen() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "state unresponsive\n").write == .written(19))
            #expect(try await tree.session.open(inode: tree.inode(s, .input), flags: O_WRONLY).reply == .error(.EHOSTDOWN))
            let errors = try await tree.cat(s, .error)
            #expect(errors.contains(" state active -> unresponsive\n"))
            #expect(errors.contains(" input socket is unresponsive; write 'state active' to ctl to use it again\n"))
            #expect(try await tree.control(s, "state active\n").write == .written(13))
            #expect(try await tree.send(s, "back") == .ok)
            #expect(try await tree.cat(s, .output) == "back\n")
        }
    }

    @Test("a uid with waiting_per_uid requests waiting for the store: its next close waits its turn, O_NONBLOCK is EAGAIN at the first write; another uid goes at once")
    func waitingPerUID() async throws {
        try await withTree(limits: .with { $0.maxWaitingPerUID = 1 }) { tree in
            let s = try await tree.mkdir("s")
            // Hold uid 1000's one place, as a request still waiting for its commit would.
            let held = Mutex<(@Sendable () -> Void)?>(nil)
            tree.environment.admission.enter(Callers.user.uid) { leave in held.withLock { $0 = leave } }
            let nonBlocking = try await tree.open(s, .input, O_WRONLY | O_NONBLOCK)
            #expect(try await tree.session.write(nonBlocking, "now", flags: O_WRONLY | O_NONBLOCK).reply == .error(.EAGAIN))
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(input, "waits").reply == .written(5))
            let close = tree.session.flush(input)
            // Another uid's message is not held back.
            #expect(try await tree.send(s, "other uid", as: Callers.other) == .ok)
            #expect(!close.isAnswered, "uid 1000's close waits for its place")
            #expect(tree.environment.admission.counts(Callers.user.uid) == (running: 1, parked: 1))
            held.withLock { $0 }?()
            #expect(try await close.reply == .ok, "and goes once the place is free")
            #expect(try await tree.cat(s, .output) == "other uid\nwaits\n")
            #expect(tree.environment.admission.counts(Callers.user.uid) == (running: 0, parked: 0))
        }
    }

    @Test("a full queue: the first write of a message is EAGAIN; a close is EAGAIN when the queue filled after its write")
    func fullQueue() async throws {
        try await withTree(limits: .with { $0.maxQueue = 1 }) { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            // Two writers both get their first write in while the queue is empty.
            let first = try await tree.open(s, .input, O_WRONLY)
            let second = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(first, "one").reply == .written(3))
            #expect(try await tree.session.write(second, "two").reply == .written(3))
            #expect(try await tree.session.flush(first).reply == .ok)
            #expect(try await tree.session.flush(second).reply == .error(.EAGAIN), "the queue filled before its commit")
            // Now full: a new message's first write is refused.
            let third = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(third, "three").reply == .error(.EAGAIN))
            for file in [first, second, third] { _ = try await tree.session.release(file).reply }
            let errors = try await tree.cat(s, .error)
            #expect(errors.contains(" input queue full (1 unanswered messages); message not queued\n"))
            #expect(errors.contains(" input queue full (1 unanswered messages)\n"))
            // Once answered there is room again.
            tree.provider.release()
            #expect(try await tree.cat(s, .output) == "gated: one\n")
            tree.provider.release()
            #expect(try await tree.send(s, "four") == .ok)
            #expect(try await tree.cat(s, .output) == "gated: four\n")
        }
    }

    @Test("a message over [limits] message_bytes: EFBIG, sticky for the descriptor, the close too; nothing is sent")
    func oversizedMessageIsSticky() async throws {
        try await withTree(limits: .with { $0.maxMessageBytes = 10 }) { tree in
            let s = try await tree.mkdir("s")
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(input, "12345").reply == .written(5))
            #expect(try await tree.session.write(input, "678901").reply == .error(.EFBIG))
            #expect(try await tree.session.write(input, "x").reply == .error(.EFBIG), "sticky")
            #expect(try await tree.session.flush(input).reply == .error(.EFBIG))
            #expect(try await tree.session.flush(input).reply == .error(.EFBIG), "every close of the descriptor")
            _ = try await tree.session.release(input).reply
            #expect(tree.registry.socket(id: s)?.info.messages == 0)
            #expect(try await tree.cat(s, .error).contains(" input message over 10 bytes refused (EFBIG); nothing was queued\n"))
            #expect(try await tree.cat(s, .output) == "", "nothing pending")
            // Exactly the limit is fine, on a new descriptor.
            #expect(try await tree.send(s, "1234567890") == .ok)
            #expect(try await tree.cat(s, .output) == "1234567890\n")
        }
    }

    @Test("a message of headers only fails the close with EINVAL and says so in error; an empty open → close sends nothing")
    func headersWithoutContent() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.send(s, "[priority-high] ") == .error(.EINVAL))
            #expect(try await tree.cat(s, .error).contains(" input the message has headers but no content; nothing was queued\n"))
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.flush(input).reply == .ok)
            _ = try await tree.session.release(input).reply
            #expect(tree.registry.socket(id: s)?.info.messages == 0)
            // A [team-chat-to-NAME] in a socket's own input is content.
            #expect(try await tree.send(s, "[team-chat-to-x] hi") == .ok)
            #expect(try await tree.cat(s, .output) == "[team-chat-to-x] hi\n")
        }
    }

    @Test("close is EHOSTDOWN when the socket became unresponsive after the open")
    func unresponsiveAfterTheOpen() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(input, "late").reply == .written(4))
            #expect(try await tree.control(s, "state unresponsive\n").write == .written(19))
            #expect(try await tree.session.flush(input).reply == .error(.EHOSTDOWN))
            _ = try await tree.session.release(input).reply
            #expect(try await tree.cat(s, .error).contains(" input socket is unresponsive; message not queued\n"))
            #expect(tree.registry.socket(id: s)?.info.messages == 0)
        }
    }

    @Test("close is ENOENT when the socket was removed while the file was open")
    func socketRemovedWhileOpen() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(input, "orphan").reply == .written(6))
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok)
            #expect(try await tree.session.write(input, " more").reply == .written(5), "the descriptor keeps working")
            #expect(try await tree.session.flush(input).reply == .error(.ENOENT))
            _ = try await tree.session.release(input).reply
        }
    }

    @Test("close is EIO when the store cannot write, ENOSPC when its disk is full; error says it was not queued, messages: does not count it")
    func storeFailures() async throws {
        let store = FaultStore()
        try await withTree(.faulty(store)) { tree in
            let s = try await tree.mkdir("s")
            store.setCommit(.fail(.EIO))
            #expect(try await tree.send(s, "lost") == .error(.EIO))
            store.setCommit(.fail(.ENOSPC))
            #expect(try await tree.send(s, "full") == .error(.ENOSPC))
            let errors = try await tree.cat(s, .error)
            #expect(errors.contains(" store message 1 not stored (Input/output error); it was not queued\n"))
            #expect(errors.contains(" store message 2 not stored (No space left on device); it was not queued\n"))
            #expect(try await tree.cat(s, .output) == "", "nothing was queued")
            store.setCommit(.normal)
            #expect(try await tree.send(s, "kept") == .ok)
            #expect(try await tree.cat(s, .output) == "kept\n")
            #expect(try await tree.cat(s, .ctl).contains("\nmessages: 1\n"), "the two refused messages are not counted")
        }
    }

    @Test("a close waiting for its commit is parked; when the daemon stops meanwhile it gets EIO")
    func stopWhileTheCloseWaits() async throws {
        let store = FaultStore()
        try await withTree(.faulty(store)) { tree in
            let s = try await tree.mkdir("s")
            store.setCommit(.hold)
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(input, "pending").reply == .written(7))
            let close = tree.session.flush(input)
            await store.waitForHeldCommits()
            #expect(close.answer == nil, "parked until the commit")
            #expect(tree.session.parkedCount == 1)
            await tree.session.stop()
            #expect(try await close.reply == .error(.EIO))
            #expect(close.replyCount == 1)
        }
    }

    @Test("a held commit answers the close once it is durable; [priority-high] goes ahead of the queue")
    func closeWaitsForTheCommit() async throws {
        let store = FaultStore()
        try await withTree(.faulty(store)) { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            #expect(try await tree.send(s, "first") == .ok)
            await tree.provider.waitUntilStarted(1)
            #expect(try await tree.send(s, "normal") == .ok)
            store.setCommit(.hold)
            let input = try await tree.open(s, .input, O_WRONLY)
            #expect(try await tree.session.write(input, "[priority-high] urgent").reply == .written(22))
            let close = tree.session.flush(input)
            await store.waitForHeldCommits()
            #expect(close.answer == nil)
            store.releaseCommits()
            #expect(try await close.reply == .ok)
            _ = try await tree.session.release(input).reply
            for _ in 0..<3 { tree.provider.release() }
            #expect(try await tree.cat(s, .output) == "gated: first\ngated: urgent\ngated: normal\n")
        }
    }
}
