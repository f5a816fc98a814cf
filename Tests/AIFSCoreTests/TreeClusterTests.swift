@testable import AIFSCore
import Foundation
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/cluster` in-process, for a single daemon (no shared log): it lists itself, as one JSON
/// object per line (docs/file-protocol.md, "`/ai/cluster`"). The Redis side is mounted
/// (`ClusterHealthTests`).
@Suite("tree: /ai/cluster", .timeLimit(.minutes(1)))
struct TreeClusterTests {
    @Test("a single daemon lists itself: every field, sockets counted, no position; read-only, not a directory")
    func singleDaemon() async throws {
        try await withTree { tree in
            try await tree.mkdir("a")
            try await tree.mkdir("b")
            let text = try await tree.cat(InodeScheme.cluster)
            let lines = text.split(separator: "\n")
            #expect(lines.count == 1 && text.hasSuffix("\n"), "\(text)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            #expect(Set(object.keys) == ["id", "host", "pid", "version", "mountpoint", "started", "heartbeat", "heartbeat_age_ms",
                                         "sockets", "position", "lag_ms", "leader", "self"])
            #expect(object["id"] as? String == "local")
            #expect(object["sockets"] as? Int == 2)
            #expect(object["pid"] as? Int == Int(getpid()))
            #expect(object["self"] as? Bool == true && object["leader"] as? Bool == true)
            #expect(object["position"] is NSNull && object["lag_ms"] is NSNull && object["heartbeat"] is NSNull)
            #expect(try await tree.openError(InodeScheme.cluster, O_WRONLY) == .EACCES)
            #expect(try await tree.lookup(InodeScheme.cluster, "x") == .error(.ENOTDIR))
            #expect(try await tree.session.mkdir(parent: Tree.root, name: "cluster").reply == .error(.EEXIST))
            let attributes = try await tree.session.getattr(inode: InodeScheme.cluster).reply.attributes
            #expect(attributes?.permissions == 0o444 && attributes?.kind == .regular)
        }
    }

    @Test("a member's lag is the log time between its position and the newest entry; 0 when caught up")
    func lag() {
        #expect(ClusterMember.lag(position: "1000-5", last: "1250-0") == 250)
        #expect(ClusterMember.lag(position: "1250-0", last: "1250-0") == 0)
        #expect(ClusterMember.lag(position: "1300-0", last: "1250-0") == 0)
        #expect(ClusterMember.lag(position: "0-0", last: "0-0") == 0)
    }
}
