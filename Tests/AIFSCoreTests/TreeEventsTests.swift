@testable import AIFSCore
import Foundation
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/events` through the tree, in-process: what mkdir, a message, ctl, mv, chmod and rmdir
/// write there, in order, and what another uid sees (docs/file-protocol.md, "`/ai/events`").
@Suite("tree: /ai/events", .timeLimit(.minutes(1)))
struct TreeEventsTests {
    static func events(_ tree: Tree, as caller: RequestContext? = nil) async throws -> [[String: Any]] {
        let text = try await tree.cat(InodeScheme.events, as: caller)
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }

    @Test("the life of a socket, in order; a 0700 socket's events hidden from another uid")
    func lifeOfASocket() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s", mode: 0o700)
            #expect(try await tree.send(s, "hello\n") == .ok)
            #expect(try await tree.cat(s, .output) == "hello\n")
            _ = try await tree.control(s, "model echo/slow\nset temperature 0.5\n")
            _ = try await tree.control(s, "model nosuch\n")
            #expect(try await tree.session.rename(parent: Tree.root, name: "s", newParent: Tree.root, newName: "t", flags: 0).reply == .ok)
            let open = try await tree.mkdir("open")
            _ = open
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "t").reply == .ok)
            let mine = try await Self.events(tree)
            let types = mine.map { "\($0["type"]!) \($0["socket"] as? String ?? "-")" }
            #expect(types == ["socket_created s", "request_started s", "request_ended s", "model_changed s", "setting_changed s",
                              "error s", "socket_renamed t", "socket_created open", "socket_deleted t"], "\(types)")
            let ids = mine.compactMap { $0["id"] as? Int }
            #expect(ids.count == mine.count && ids == ids.sorted() && Set(ids).count == ids.count)
            for event in mine {
                for key in ["id", "time", "type", "socket", "uid", "daemon", "from_log"] { #expect(event[key] != nil, "\(key) in \(event)") }
                #expect(event["uid"] as? Int == Int(Callers.user.uid))
            }
            let ended = try #require(mine.first { $0["type"] as? String == "request_ended" })
            #expect(ended["outcome"] as? String == "completed" && ended["message"] as? Int == 1)
            #expect((ended["duration"] as? Double ?? -1) >= 0 && (ended["first_token"] as? Double ?? -1) >= 0)
            #expect(ended["tokens_in"] as? Int == 1 && ended["tokens_out"] as? Int == 1)
            let error = try #require(mine.first { $0["type"] as? String == "error" })
            #expect(error["kind"] as? String == "ctl" && (error["message"] as? String ?? "").contains("nosuch"))
            // Another uid: only the 0755 socket's.
            let theirs = try await Self.events(tree, as: Callers.other)
            #expect(theirs.map { $0["type"] as? String } == ["socket_created"] && theirs.first?["socket"] as? String == "open")
            let size = try await tree.session.getattr(inode: InodeScheme.events, as: Callers.other).reply.attributes?.size
            let own = try await tree.session.getattr(inode: InodeScheme.events).reply.attributes?.size
            #expect(size == UInt64(try await tree.cat(InodeScheme.events, as: Callers.other).utf8.count))
            #expect(own == UInt64(try await tree.cat(InodeScheme.events).utf8.count) && own! > size!)
        }
    }

    @Test("snapshots, reset, restore and rmdir with the durable store: in order, each with the uid that caused it")
    func snapshotsAndRestore() async throws {
        try await withTree(.durable) { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.send(s, "one\n") == .ok)
            #expect(try await tree.cat(s, .output) == "one\n")
            #expect(try await tree.session.mkdir(parent: InodeScheme.snapshots, name: "s1").reply.errno == nil)
            _ = try await tree.control(s, "reset\n")
            _ = try await tree.control(s, "restore s1\n")
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "s").reply == .ok)
            let events = try await Self.events(tree)
            let summary = events.filter { $0["type"] as? String != "error" }.map { e -> String in
                let type = e["type"] as? String ?? "?"
                let extra = (e["trigger"] as? String).map { "(\($0))" } ?? (e["snapshot"] as? String).map { "(\($0))" } ?? ""
                return "\(type)\(extra) \(e["socket"] as? String ?? "-") \(e["uid"] as? Int ?? -1)"
            }
            let user = Callers.user.uid
            #expect(summary == ["socket_created s \(user)", "request_started s \(user)", "request_ended s \(user)",
                                "snapshot(manual) - \(user)", "snapshot(before-reset) s \(user)", "reset s \(user)",
                                "snapshot(before-restore) s \(user)", "restore(s1) s \(user)",
                                "snapshot(before-rmdir) s \(user)", "socket_deleted s \(user)"], "\(summary)")
            let restore = try #require(events.first { $0["type"] as? String == "restore" })
            #expect(restore["reason"] is NSNull)
        }
    }

    @Test("read-only, a file: EACCES to write, ENOTDIR below it, EEXIST to mkdir, EPERM to unlink or rename")
    func errnos() async throws {
        try await withTree { tree in
            #expect(try await tree.openError(InodeScheme.events, O_WRONLY) == .EACCES)
            #expect(try await tree.openError(InodeScheme.events, O_RDWR) == .EACCES)
            #expect(try await tree.lookup(InodeScheme.events, "x") == .error(.ENOTDIR))
            #expect(try await tree.session.mkdir(parent: Tree.root, name: "events").reply == .error(.EEXIST))
            #expect(try await tree.session.unlink(parent: Tree.root, name: "events").reply == .error(.EPERM))
            #expect(try await tree.session.rmdir(parent: Tree.root, name: "events").reply == .error(.ENOTDIR))
            #expect(try await tree.session.rename(parent: Tree.root, name: "events", newParent: Tree.root, newName: "x", flags: 0).reply
                    == .error(.EPERM))
            let attributes = try await tree.session.getattr(inode: InodeScheme.events).reply.attributes
            #expect(attributes?.permissions == 0o444 && attributes?.kind == .regular && attributes?.size == 0)
            #expect(try await tree.setattrError(InodeScheme.events, SetAttributes(size: 0)) == .EPERM)
        }
    }
}
