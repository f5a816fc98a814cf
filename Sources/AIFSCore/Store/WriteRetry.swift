import Foundation

/// When work that failed may be tried again: after 50 ms, then twice as long after each further
/// failure, up to 5 s; at once again after a success. Used by the writer for what nobody waits
/// for (kept groups, the journal, the memory index), so that a full disk costs a few attempts
/// and log lines a second, not hundreds. Writer thread only.
struct Backoff {
    static let first = 0.05
    static let longest = 5.0
    private(set) var next: Date?
    private var delay = Backoff.first

    /// Whether an attempt may run now.
    func isDue(_ now: Date = Date()) -> Bool { next.map { now >= $0 } ?? true }
    /// Seconds until the next attempt may run (0 when it may run now).
    func remaining(_ now: Date = Date()) -> Double { max(0, next?.timeIntervalSince(now) ?? 0) }

    mutating func failed(_ now: Date = Date()) {
        next = now.addingTimeInterval(delay)
        delay = min(Self.longest, delay * 2)
    }

    mutating func succeeded() {
        next = nil
        delay = Self.first
    }
}

/// The groups of a failed batch that nobody waits for (the `error` line of a refused message and
/// its memory, read cursors, a reply's bookkeeping), kept by the writer and written in front of
/// the next batch, so that a full disk loses none of them once space is back. Groups somebody
/// waits for are answered with the errno instead (their writer's `close()` fails) and never kept.
///
/// Bounded: past ``limit`` groups or ``byteLimit`` bytes of payload the oldest are dropped (and
/// counted, and logged). A reply's end holds the reply about three times (context, transcript,
/// memory), so the bytes are the bound that matters. Writer thread only.
struct KeptGroups {
    static let limit = 10_000
    static let byteLimit = 32 << 20
    private(set) var groups: [EventQueue.Group] = []
    private(set) var bytes = 0
    private var sizes: [Int] = []
    var backoff = Backoff()

    var isEmpty: Bool { groups.isEmpty }
    var count: Int { groups.count }

    /// Keeps `more` (newer than those kept); returns how many old ones were dropped to make room.
    mutating func keep(_ more: [EventQueue.Group], limit: Int = KeptGroups.limit, byteLimit: Int = KeptGroups.byteLimit) -> Int {
        for group in more {
            let size = group.events.reduce(0) { $0 + $1.payloadBytes }
            groups.append(group)
            sizes.append(size)
            bytes += size
        }
        var dropped = 0
        while !groups.isEmpty, groups.count - dropped > limit || bytes > byteLimit {
            bytes -= sizes[dropped]
            dropped += 1
            if dropped == groups.count { break }
        }
        if dropped > 0 {
            groups.removeFirst(dropped)
            sizes.removeFirst(dropped)
        }
        return dropped
    }

    /// Everything kept, oldest first, to go in front of a batch.
    mutating func takeAll() -> [EventQueue.Group] {
        defer { groups = []; sizes = []; bytes = 0 }
        return groups
    }
}

extension StoreEvent {
    /// The bytes an event carries (content, stream bytes, turns), roughly: what keeping it costs.
    var payloadBytes: Int {
        switch self {
        case .messageQueued(_, let message): return 64 + message.content.count
        case .transcriptAppended(_, let bytes): return 64 + bytes.count
        case .contextAppended(_, let turns): return turns.reduce(64) { $0 + 16 + $1.content.count }
        case .historyAppended(_, let entries): return 64 + 40 * entries.count
        case .undoSaved(_, let call, let record):
            return 64 + call.utf8.count + (record.map { $0.path.utf8.count + ($0.previous?.count ?? 0) } ?? 0)
        case .streamAppended(_, _, _, let bytes, _), .teamStreamAppended(_, _, let bytes): return 64 + bytes.count
        case .memory(let entry): return 128 + entry.content.utf8.count
        case .socketCreated(let record), .socketSaved(let record): return 256 + record.prompt.count
        default: return 64
        }
    }
}
