/// How the daemons of a Redis namespace watch each other and keep the log bounded
/// (`[store] member_timeout`, `[store] checkpoint_entries`; docs/distributed.md).
public struct ClusterSettings: Sendable, Equatable {
    /// Seconds a daemon may be silent (no heartbeat) before it is dropped from `aifs:daemons`:
    /// gone from `/ai/cluster`, and no longer waited for when the log is trimmed.
    public var memberTimeout: Double = 5
    public static let memberTimeoutRange: ClosedRange<Double> = 1...3600
    /// Entries the leader applies past the last checkpoint before it writes the next one (then
    /// the log is trimmed behind it and behind the slowest live daemon).
    public var checkpointEntries = 50_000
    public static let checkpointEntriesRange: ClosedRange<Int> = 100...100_000_000

    public init(memberTimeout: Double = 5, checkpointEntries: Int = 50_000) {
        self.memberTimeout = memberTimeout
        self.checkpointEntries = checkpointEntries
    }
}
