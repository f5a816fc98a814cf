#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Daemon-wide totals for `/ai/ctl` and `/ai/metrics`: requests by outcome, messages, tokens,
/// bytes in and out, tool results by status, and the request-latency and time-to-first-token
/// histograms.
///
/// The counters are this daemon's: with the Redis backend a request counts on the daemon that
/// ran it (the socket's owner), a message on every daemon that applied it to its queue. They
/// start at zero with the daemon.
///
/// The hot path stays cheap: one short lock when a request starts and when it ends, one per
/// accepted message and per usage report, and an atomic add per reply chunk; nothing is
/// allocated per token (the histograms' buckets are fixed arrays mutated in place).
public final class DaemonCounters: Sendable {
    /// Everything behind the lock, copied out whole for a reader.
    public struct Values: Sendable, Equatable {
        public var inFlight = 0
        /// Requests started (``requestStarted()``), whatever became of them.
        public var requests = 0
        public var completed = 0
        public var failed = 0
        public var cancelled = 0
        public var messages = 0
        public var inputBytes = 0
        public var tokensIn = 0
        public var tokensOut = 0
        /// Tool results by their status word (`exit`, `refused`, `denied`, `error`, `timeout`…).
        public var toolCalls: [String: Int] = [:]
        public var requestSeconds = Histogram(bounds: Histogram.requestBounds)
        public var firstTokenSeconds = Histogram(bounds: Histogram.requestBounds)
    }
    private let values = Mutex(Values())
    private let outputBytesCount = Atomic<Int>(0)

    public init() {}

    func requestStarted() { values.withLock { $0.inFlight += 1; $0.requests += 1 } }

    /// A request started here ended: `outcome` nil when the daemon stops under it (it is
    /// answered again after the restart, so it counts in no outcome and no histogram).
    /// `seconds` since it started; `firstText` seconds from its start to its first reply text.
    func requestEnded(_ outcome: WorkOutcome?, seconds: Double = 0, firstText: Double? = nil) {
        values.withLock { v in
            v.inFlight -= 1
            guard let outcome else { return }
            switch outcome {
            case .completed: v.completed += 1
            case .failed: v.failed += 1
            case .cancelled: v.cancelled += 1
            }
            v.requestSeconds.observe(seconds)
            if let firstText { v.firstTokenSeconds.observe(firstText) }
        }
    }

    /// A message of `bytes` bytes joined a queue.
    func messageQueued(bytes: Int = 0) { values.withLock { $0.messages += 1; $0.inputBytes += bytes } }

    /// Reply text streamed by a request that runs here.
    func replyStreamed(bytes: Int) { outputBytesCount.wrappingAdd(bytes, ordering: .relaxed) }

    func addTokens(input: Int, output: Int) {
        guard input != 0 || output != 0 else { return }
        values.withLock { $0.tokensIn += input; $0.tokensOut += output }
    }

    /// A tool result of a request that runs here, by its status word.
    func toolResult(status: String) { values.withLock { $0.toolCalls[status, default: 0] += 1 } }

    /// Everything at once (one lock).
    public var snapshot: Values { values.withLock { $0 } }
    /// Bytes of reply text streamed so far.
    public var outputBytes: Int { outputBytesCount.load(ordering: .relaxed) }

    public var inFlight: Int { values.withLock { $0.inFlight } }
    public var requests: Int { values.withLock { $0.requests } }
    public var messages: Int { values.withLock { $0.messages } }

    /// A monotonic clock in seconds (not the wall clock: a request's duration survives a clock
    /// step), read with one `clock_gettime`.
    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A Prometheus histogram with fixed buckets: an observation increments one slot of a fixed
/// array (no allocation); the renderer makes the counts cumulative, as the format wants.
public struct Histogram: Sendable, Equatable {
    /// Request latency and time to first token, in seconds: 1 ms (a local model such as `echo`
    /// answers in under one) to 5 minutes.
    public static let requestBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
    /// A store commit, in seconds: 100 µs to 10 s.
    public static let commitBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10]

    /// Upper bounds of the buckets, ascending; the `+Inf` bucket is implied.
    public let bounds: [Double]
    /// Observations per bucket (not cumulative); the last slot is `+Inf`'s.
    public private(set) var buckets: [Int]
    public private(set) var sum = 0.0
    public private(set) var count = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        buckets = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ value: Double) {
        var index = 0
        while index < bounds.count, value > bounds[index] { index += 1 }
        buckets[index] += 1
        sum += value
        count += 1
    }

    /// Observations at or below each bound, then the total (`+Inf`).
    public var cumulative: [Int] {
        var total = 0
        return buckets.map { total += $0; return total }
    }
}
