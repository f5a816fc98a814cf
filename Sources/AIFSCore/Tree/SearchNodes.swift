import FuseKit
import Synchronization

/// The dynamic nodes under `memory/search/`: one per query name the kernel has looked up.
///
/// Any name can be looked up there, so unlike sockets these nodes are allocated, with a
/// lookup count per node as `passthrough_ll.c` keeps them: each `lookup` reply adds one, the
/// kernel's `forget` takes them away, and at zero the node is freed. Inodes come from their own
/// range (``base`` and up), far above every socket inode, and are never reused.
final class SearchNodes: Sendable {
    /// The first search inode (`1 << 62`).
    static let base: Inode = 1 << 62

    private struct Node {
        var query: String
        var lookups: UInt64
    }
    private struct State {
        var byQuery: [String: Inode] = [:]
        var byInode: [Inode: Node] = [:]
        var next: Inode = SearchNodes.base
    }
    private let state = Mutex(State())

    static func contains(_ inode: Inode) -> Bool { inode >= base }

    /// The node for `query`, counting one more kernel reference.
    func lookup(_ query: String) -> Inode {
        state.withLock { s in
            if let inode = s.byQuery[query] {
                s.byInode[inode]?.lookups += 1
                return inode
            }
            let inode = s.next
            s.next += 1
            s.byQuery[query] = inode
            s.byInode[inode] = Node(query: query, lookups: 1)
            return inode
        }
    }

    func query(for inode: Inode) -> String? {
        state.withLock { $0.byInode[inode]?.query }
    }

    func forget(_ inode: Inode, lookups: UInt64) {
        state.withLock { s in
            guard var node = s.byInode[inode] else { return }
            node.lookups = node.lookups > lookups ? node.lookups - lookups : 0
            if node.lookups == 0 {
                s.byInode.removeValue(forKey: inode)
                s.byQuery.removeValue(forKey: node.query)
            } else {
                s.byInode[inode] = node
            }
        }
    }

    var count: Int { state.withLock { $0.byInode.count } }
}
