@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/memory/search/<query>`, in-process (docs/file-protocol.md, "`/ai/memory/search/<query>`").
@Suite("tree: memory search", .timeLimit(.minutes(1)))
struct TreeSearchTests {
    static let memory = InodeScheme.memory
    static let search = InodeScheme.memorySearch

    /// The search node for `query` (a lookup never answers ENOENT there).
    static func node(_ tree: Tree, _ query: String) async throws -> Inode {
        let entry = try #require(try await tree.lookup(search, query).entry)
        #expect(entry.entryTimeout == 0 && entry.attributeTimeout == 0, "never cached by the kernel")
        return entry.attributes.inode
    }

    /// Reads an open search result: its text, then the answer of the read past it.
    static func readWithEnd(_ tree: Tree, _ inode: Inode) async throws -> (text: String, end: Reply) {
        let file = try await tree.session.open(inode: inode).file
        let text = try #require(try await tree.session.read(file, size: 1 << 16).reply.text)
        let end = try await tree.session.read(file, size: 1 << 16, offset: Int64(text.utf8.count)).reply
        _ = try await tree.session.release(file).reply
        return (text, end)
    }

    @Test("memory/ holds only search/, which lists nothing; EACCES for writing; mkdir, unlink EPERM; rmdir ENOTDIR there, EPERM of memory and search")
    func searchDirectoryRefusals() async throws {
        try await withTree { tree in
            #expect(try await tree.list(Self.memory) == [".", "..", "search"])
            #expect(try await tree.list(Self.search) == [".", ".."])
            #expect(try await tree.lookup(Self.memory, "other") == .error(.ENOENT))
            let attributes = try await tree.session.getattr(inode: Self.memory).reply.attributes
            #expect(attributes?.permissions == 0o555)
            let result = try await Self.node(tree, "any words at all")
            #expect(try await Self.node(tree, "any words at all") == result, "one node per query while the kernel holds it")
            #expect(try await tree.session.getattr(inode: result).reply.attributes?.permissions == 0o444)
            #expect(try await tree.openError(result, O_WRONLY) == .EACCES)
            #expect(try await tree.openError(result, O_RDWR) == .EACCES)
            #expect(try await tree.lookup(result, "x") == .error(.ENOTDIR))
            #expect(try await tree.session.mkdir(parent: Self.search, name: "q").reply == .error(.EPERM))
            #expect(try await tree.session.mkdir(parent: Self.memory, name: "q").reply == .error(.EPERM))
            #expect(try await tree.session.unlink(parent: Self.search, name: "any words at all").reply == .error(.EPERM))
            #expect(try await tree.session.create(parent: Self.search, name: "q").reply == .error(.EPERM))
            #expect(try await tree.session.rmdir(parent: Self.search, name: "any words at all").reply == .error(.ENOTDIR))
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "memory").reply == .error(.EPERM))
            #expect(try await tree.session.rmdir(parent: Self.memory, name: "search").reply == .error(.EPERM))
            #expect(try await tree.setattrError(Self.search, SetAttributes(mode: 0o777)) == .EPERM)
            #expect(try await tree.setattrError(result, SetAttributes(size: 0)) == .EPERM)
            // The kernel forgets the node (two lookups, two references): it is freed.
            tree.session.forget(inode: result, lookups: 2)
            #expect(try await tree.session.getattr(inode: result).reply == .error(.ENOENT))
            #expect(try await Self.node(tree, "any words at all") != result, "a new node, never a reused inode")
        }
    }

    @Test("with --store memory every query reads the reason, then EINVAL")
    func memoryStoreSearch() async throws {
        try await withTree(.memory) { tree in
            let (text, end) = try await Self.readWithEnd(tree, try await Self.node(tree, "nginx"))
            #expect(text == "aifs: memory search needs the durable store (this daemon runs with --store memory)\n")
            #expect(end == .error(.EINVAL))
        }
    }

    @Test("on the durable store an exchange shown by output is found; a bad query reads its reason, then EINVAL")
    func durableSearch() async throws {
        try await withTree(.durable) { tree in
            let ops = try await tree.mkdir("ops")
            #expect(try await tree.send(ops, "how do I install nginx on debian") == .ok)
            #expect(try await tree.cat(ops, .output) == "how do I install nginx on debian\n")
            let (hits, end) = try await Self.readWithEnd(tree, try await Self.node(tree, "nginx install"))
            let lines = hits.split(separator: "\n")
            #expect(lines.count == 2, "the input and the reply: \(hits)")
            #expect(lines.allSatisfy { $0.split(separator: "\t").count == 5 && $0.contains("\tops\t") })
            #expect(Set(lines.map { $0.split(separator: "\t")[3] }) == ["input", "reply"])
            #expect(end == .data([]), "then end of file")
            let (none, _) = try await Self.readWithEnd(tree, try await Self.node(tree, "kubernetes"))
            #expect(none == "")
            let (reason, failure) = try await Self.readWithEnd(tree, try await Self.node(tree, "\"unbalanced"))
            #expect(reason.hasPrefix("aifs: bad search query: "))
            #expect(failure == .error(.EINVAL))
            // A name that is not UTF-8 is a bad query too, never ENOENT (issue 23).
            let notUTF8 = try #require(try await tree.session.lookup(parent: Self.search, bytes: [0x66, 0xFF, 0xFE]).reply.entry)
            let (why, refused) = try await Self.readWithEnd(tree, notUTF8.attributes.inode)
            #expect(why == "aifs: bad search query: the name is not valid UTF-8\n")
            #expect(refused == .error(.EINVAL))
            #expect(try await tree.session.lookup(parent: InodeScheme.root, bytes: [0xFF]).reply == .error(.ENOENT), "elsewhere it is no name")
            // The daemon goes on as before.
            #expect(try await tree.send(ops, "still here") == .ok)
            #expect(try await tree.cat(ops, .output) == "still here\n")
        }
    }

    @Test("an open interrupted while its query runs is EINTR; another open of the same query is answered once it finishes")
    func interruptedQuery() async throws {
        let store = FaultStore()
        try await withTree(.faulty(store)) { tree in
            store.setHoldSearches(true)
            let inode = try await Self.node(tree, "slow query")
            let interrupted = tree.session.open(inode: inode)
            let patient = tree.session.open(inode: inode)
            await store.waitForHeldSearches(2)
            #expect(interrupted.answer == nil && patient.answer == nil && tree.session.parkedCount == 2)
            tree.session.interrupt(interrupted)
            #expect(try await interrupted.reply == .error(.EINTR))
            #expect(patient.answer == nil)
            store.releaseSearches()
            let file = try await patient.file
            #expect(file.options == [.directIO])
            #expect(try await tree.session.read(file).reply == .data([]))
            _ = try await tree.session.release(file).reply
            #expect(interrupted.replyCount == 1)
        }
    }
}
