import Dispatch
import Synchronization

/// The pipeline graph of `wire NAME`: each socket sends its finished replies to at most one
/// other socket's input, so the graph is a forest of chains `a → b → c`; cycles are refused.
///
/// The lock here is a leaf: nothing is called while it is held, so sockets may ask it
/// questions under their own lock. It holds the socket objects themselves (not names), so a
/// rename keeps a pipeline intact; removing a socket takes its edges with it.
///
/// A reader of the last socket's `output` must wait while any socket upstream still works, and
/// must get end of file once none does. Upstream work is evaluated on demand, upstream first
/// (see ``Socket/upstreamFeeding()``), and changes are pushed down the chain on a serial queue
/// (``propagate(from:)``), which wakes parked readers with a fresh answer.
public final class Wiring: Sendable {
    private struct Edge {
        let source: Socket
        let target: Socket
    }
    private let edges = Mutex<[SocketID: Edge]>([:])
    private let queue = DispatchQueue(label: "aifs.wire")

    public init() {}

    /// The socket `source` sends its replies to.
    func target(of source: SocketID) -> Socket? { edges.withLock { $0[source]?.target } }

    /// The sockets wired into `target`.
    func sources(of target: SocketID) -> [Socket] {
        edges.withLock { $0.values.filter { $0.target.id == target }.map(\.source) }
    }

    func hasSources(_ target: SocketID) -> Bool {
        edges.withLock { $0.values.contains { $0.target.id == target } }
    }

    /// The end of the chain that starts at `source` (itself if unwired).
    func terminal(from source: Socket) -> Socket {
        edges.withLock { e in
            var current = source
            var seen: Set<SocketID> = [source.id]
            while let next = e[current.id]?.target, seen.insert(next.id).inserted { current = next }
            return current
        }
    }

    /// Wires `source → target`. `ELOOP` if the chain from `target` leads back to `source`.
    func connect(_ source: Socket, to target: Socket) throws(SocketError) {
        let refusal: SocketError? = edges.withLock { e in
            if let loop = Self.loop(e, source, target) { return loop }
            e[source.id] = Edge(source: source, target: target)
            return nil
        }
        if let refusal { throw refusal }
    }

    /// Whether ``connect(_:to:)`` would succeed, without wiring.
    func check(_ source: Socket, to target: Socket) throws(SocketError) {
        if let loop = edges.withLock({ Self.loop($0, source, target) }) { throw loop }
    }

    private static func loop(_ e: [SocketID: Edge], _ source: Socket, _ target: Socket) -> SocketError? {
        var current: SocketID? = target.id
        var seen: Set<SocketID> = []
        while let id = current, seen.insert(id).inserted {
            if id == source.id {
                let why = target === source ? "a socket cannot be wired to itself" : "\(target.name) already leads to this socket"
                return SocketError(.ELOOP, "wire \(target.name): that would make a loop (\(why))")
            }
            current = e[id]?.target.id
        }
        return nil
    }

    /// Unwires `source`; returns the socket it was wired to.
    @discardableResult
    func disconnect(_ source: SocketID) -> Socket? {
        edges.withLock { $0.removeValue(forKey: source)?.target }
    }

    /// A socket is removed: its own edge goes, and so do the edges into it (returned, so their
    /// sources can say so).
    func remove(_ socket: SocketID) -> (target: Socket?, sources: [Socket]) {
        edges.withLock { e in
            let target = e.removeValue(forKey: socket)?.target
            let sources = e.values.filter { $0.target.id == socket }.map(\.source)
            for source in sources { e.removeValue(forKey: source.id) }
            return (target, sources)
        }
    }

    /// Re-evaluates, in order, every socket downstream of `source`, off the caller's thread and
    /// outside every lock, so parked readers at the end of the chain get a fresh answer.
    func propagate(from source: Socket) {
        queue.async { [self] in
            var seen: Set<SocketID> = [source.id]
            var next = target(of: source.id)
            while let socket = next, seen.insert(socket.id).inserted {
                socket.recheckUpstream()
                next = target(of: socket.id)
            }
        }
    }

    /// Re-evaluates `socket` itself (after a reader parked there), then its downstream.
    func recheck(_ socket: Socket) {
        queue.async { [self] in
            socket.recheckUpstream()
            propagate(from: socket)
        }
    }
}
