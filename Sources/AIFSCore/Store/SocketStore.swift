import Dispatch
import FuseKit

/// The storage boundary: everything a socket must not lose passes through here.
///
/// The tree and the sockets keep their live state in memory and tell the store about every
/// change, as ``StoreEvent``s, in the order the changes happened. A socket records its events
/// while it holds its own lock, so per socket the store sees them in exactly that order; the
/// store never calls back into a socket while it holds a lock of its own.
///
/// `record(_:done:)` is the one call that waits: the events become durable together (one
/// transaction), and `done` is called afterwards — from the store's thread (inside an
/// ``InlineWork`` scope), never the caller's — with nil, or with the errno to fail the
/// writer's `close()` with. A message is acknowledged to its writer only then, so the FUSE
/// flush stays parked meanwhile and the loop never waits.
public protocol SocketStore: Sendable {
    /// What the store holds, to bring the sockets back at mount.
    func load() throws -> StoreContents
    /// Records events that need no acknowledgement (they are still applied in order).
    func record(_ events: [StoreEvent])
    /// Records events together and calls `done` once they are durable.
    func record(_ events: [StoreEvent], done: @escaping @Sendable (Errno?) -> Void)
    /// Whether recorded events are as durable as they will ever be at once (`--store memory`):
    /// then a socket queues a message without waiting for `record(_:done:)`, on its own thread.
    var acknowledgesAtOnce: Bool { get }
    /// Full-text search over every memory; `done` is called on the store's reader thread.
    func search(_ query: String, limit: Int, done: @escaping @Sendable (Result<[MemoryHit], MemorySearchError>) -> Void)
    /// Writes everything still pending and closes. Blocks: call it from a dedicated thread.
    func close()
    /// A human description for `/ai/ctl` (`memory (not persisted)`, or a path).
    var location: String { get }
    /// Write counters for `/ai/ctl`.
    var statistics: StoreStatistics { get }
    /// Bytes the store's files use on disk (`/ai/metrics`).
    var fileBytes: Int { get }

    // Snapshots (the writer takes and restores them: see `StoreEvent.snapshotTaken`).

    /// Whether this store keeps snapshots (`--store memory` does not).
    var supportsSnapshots: Bool { get }
    /// Every snapshot, oldest first (read once, at mount).
    func snapshotCatalog() throws -> [SnapshotInfo]
    /// One file of a socket in a snapshot; `done` runs on a reader thread.
    func readSnapshotFile(state: Int64, _ file: SnapshotFile, done: @escaping @Sendable (Result<[UInt8], SnapshotFailure>) -> Void)
    /// Live sockets as they now stand in the store (after a restore). Blocks: not on the loop thread.
    func loadSockets(_ ids: [SocketID]) throws -> [SocketSnapshot]
    /// Bytes the snapshots use (states and transcript segments).
    func snapshotStorageBytes() -> Int?

    /// Writes a consistent copy of everything recorded so far, as a database a daemon of the
    /// same namespace can start from, to `path` (the Redis log's checkpoint). Blocks until the
    /// copy is made: not on the loop thread or Swift's pool.
    func writeCheckpoint(to path: String) throws
}

extension SocketStore {
    public func writeCheckpoint(to path: String) throws {
        throw StoreError("\(location) keeps no database to make a checkpoint of")
    }
}

/// How the store's writes went: groups of events recorded and the transactions that carried
/// them (fewer transactions than groups means batching under load).
public struct StoreStatistics: Sendable, Equatable {
    public var groups = 0
    public var transactions = 0
    public var failedGroups = 0
    /// Groups handed to the store and not yet committed or refused (the writer's backlog).
    public var backlog = 0
    /// Seconds each batch's transaction took, failed ones too (`/ai/metrics`; empty for `--store memory`).
    public var commitSeconds = Histogram(bounds: Histogram.commitBounds)
    public init() {}
}

extension SocketStore {
    public func record(_ event: StoreEvent) { record([event]) }
    public var acknowledgesAtOnce: Bool { false }
    /// Bytes the store's files use on disk (`/ai/metrics`); 0 for a store that keeps none.
    public var fileBytes: Int { 0 }
}

/// What the store holds at mount.
public struct StoreContents: Sendable {
    public var sockets: [SocketSnapshot] = []
    /// The next socket id to hand out (ids are never reused within a store).
    public var nextSocketID: SocketID = InodeScheme.firstSocketID
    /// The team chat's settings and unread streams.
    public var team = TeamSnapshot()
    /// With the Redis backend: the last log id this replica applied ("0-0": none).
    public var clusterPosition = "0-0"
    public init(sockets: [SocketSnapshot] = [], nextSocketID: SocketID = InodeScheme.firstSocketID) {
        self.sockets = sockets
        self.nextSocketID = nextSocketID
    }
}

/// The store that keeps nothing beyond the process (`--store memory`): commits are immediate
/// and memory search is not available.
public final class InMemoryStore: SocketStore {
    public init() {}
    public var acknowledgesAtOnce: Bool { true }
    public func load() throws -> StoreContents { StoreContents() }
    public func record(_ events: [StoreEvent]) {}
    /// Acknowledges at once, but (as the protocol promises) not on the caller's thread.
    public func record(_ events: [StoreEvent], done: @escaping @Sendable (Errno?) -> Void) {
        DispatchQueue.global().async { done(nil) }
    }
    public func search(_ query: String, limit: Int, done: @escaping @Sendable (Result<[MemoryHit], MemorySearchError>) -> Void) {
        done(.failure(MemorySearchError("memory search needs the durable store (this daemon runs with --store memory)")))
    }
    public func close() {}
    public var location: String { "memory (not persisted)" }
    public var statistics: StoreStatistics { StoreStatistics() }
    public var supportsSnapshots: Bool { false }
    public func snapshotCatalog() throws -> [SnapshotInfo] { [] }
    public func readSnapshotFile(state: Int64, _ file: SnapshotFile, done: @escaping @Sendable (Result<[UInt8], SnapshotFailure>) -> Void) {
        done(.failure(SnapshotFailure(.ENOTSUP, "snapshots need the durable store (this daemon runs with --store memory)")))
    }
    public func loadSockets(_ ids: [SocketID]) throws -> [SocketSnapshot] { [] }
    public func snapshotStorageBytes() -> Int? { nil }
}
