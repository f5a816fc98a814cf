#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// `[events] max_age` and `max_rows`: how long, and how many, events `/ai/events` keeps.
public struct EventRetention: Sendable, Equatable {
    /// Events older than this many seconds are dropped (nil: no age limit).
    public var maxAge: Double?
    /// Only the newest this many are kept.
    public var maxRows: Int
    public static let standardMaxRows = 10_000
    public init(maxAge: Double? = nil, maxRows: Int = EventRetention.standardMaxRows) {
        self.maxAge = maxAge
        self.maxRows = maxRows
    }
}

/// The daemon's events, as `/ai/events` serves them: a bounded ring in memory (never in the
/// store, so recording one costs a render and a short lock, nothing on a commit's path).
///
/// **Offsets.** Every reader sees only the events it may read (``EventAudience``), so the file
/// has one byte stream per reader: the visible events' lines, in order, each at a byte offset
/// that never changes (the sum of every earlier visible line, trimmed ones included). Events are
/// grouped by audience and each group keeps its byte totals, so a reader's size is a sum over
/// the groups it may read and the offset of the first kept event is the sum of their trimmed
/// bytes. A read before that (the reader fell behind a trim) skips forward: the descriptor's
/// ``EventReader/shift`` maps its offsets past the gap from then on.
///
/// **Ids** are microseconds since the epoch, raised by one where two events would share one:
/// sortable, and strictly increasing in the order this daemon recorded them.
public final class EventLog: Sendable {
    private struct Stored {
        let bytes: [UInt8]
        let group: Int
        let time: Double
    }
    private struct Group {
        let audience: EventAudience?
        var total = 0
        var trimmed = 0
        var last = 0.0
    }
    private struct State {
        var entries: [Stored] = []
        /// Index in `entries` of the oldest kept event; `baseSeq` is the sequence of `entries[0]`.
        var head = 0
        var baseSeq: UInt64 = 0
        var groups: [Group] = []
        var groupIndex: [EventAudience?: Int] = [:]
        var lastID: UInt64 = 0
        var retention: EventRetention
        var daemon = "local"
        var publisher: (@Sendable ([UInt8]) -> Void)?
        var firstKeptSeq: UInt64 { baseSeq + UInt64(head) }
        var endSeq: UInt64 { baseSeq + UInt64(entries.count) }
    }
    private let state: Mutex<State>
    /// The uid of what the daemon does by itself.
    public let daemonUID: UInt32
    /// When the daemon started (the file's time while it holds nothing).
    let started: Double

    public init(retention: EventRetention = EventRetention(), daemonUID: UInt32 = getuid(), started: Double = WallClock.now()) {
        state = Mutex(State(retention: retention))
        self.daemonUID = daemonUID
        self.started = started
    }

    public var retention: EventRetention {
        get { state.withLock { $0.retention } }
        set { state.withLock { s in s.retention = newValue; Self.trim(&s, now: WallClock.now()) } }
    }

    /// This daemon's name in the events (`daemon`): its change log's id.
    public var daemon: String {
        get { state.withLock { $0.daemon } }
        set { state.withLock { $0.daemon = newValue } }
    }

    /// Where the events this daemon observed first go as well (the Redis channel).
    public func setPublisher(_ publish: (@Sendable ([UInt8]) -> Void)?) { state.withLock { $0.publisher = publish } }

    /// The uid that caused what is being done on this thread: the applied change's, else the
    /// posting request's, else the daemon's.
    public var causeUID: UInt32 { ChangeContext.applying?.uid ?? ChangeContext.posterUID ?? daemonUID }

    /// Records an event. Derived while a change is applied, it is `from_log` (every daemon of
    /// a namespace derives it) and published only by the daemon that posted the change;
    /// otherwise this daemon alone observed it, and publishes it.
    public func record(_ event: AIEvent) {
        let applying = ChangeContext.applying
        record(event, fromLog: applying != nil, publish: !(applying?.remote ?? false))
    }

    public func record(_ event: AIEvent, fromLog: Bool, publish: Bool) {
        let (line, publisher) = state.withLock { s -> ([UInt8], (@Sendable ([UInt8]) -> Void)?) in
            let micros = UInt64(max(0, event.time * 1_000_000))
            let id = max(micros, s.lastID + 1)
            s.lastID = id
            let line = EventJSON.line(event, id: id, daemon: s.daemon, fromLog: fromLog)
            Self.append(&s, line, audience: event.audience, time: event.time)
            return (line, publish ? s.publisher : nil)
        }
        publisher?(line)
    }

    /// An event another daemon published (already a JSON line, with its own id).
    public func insertRemote(_ line: [UInt8], audience: EventAudience?, time: Double) {
        state.withLock { s in Self.append(&s, line.last == 0x0A ? line : line + [0x0A], audience: audience, time: time) }
    }

    private static func append(_ s: inout State, _ line: [UInt8], audience: EventAudience?, time: Double) {
        let group: Int
        if let index = s.groupIndex[audience] {
            group = index
        } else {
            group = s.groups.count
            s.groups.append(Group(audience: audience))
            s.groupIndex[audience] = group
        }
        s.groups[group].total += line.count
        s.groups[group].last = max(s.groups[group].last, time)
        s.entries.append(Stored(bytes: line, group: group, time: time))
        trim(&s, now: time)
    }

    private static func trim(_ s: inout State, now: Double) {
        let oldest = s.retention.maxAge.map { now - $0 }
        while s.head < s.entries.count {
            let kept = s.entries.count - s.head
            let entry = s.entries[s.head]
            guard kept > s.retention.maxRows || (oldest.map { entry.time < $0 } ?? false) else { break }
            s.groups[entry.group].trimmed += entry.bytes.count
            s.head += 1
        }
        if s.head >= 1024, s.head * 2 >= s.entries.count {
            s.entries.removeFirst(s.head)
            s.baseSeq += UInt64(s.head)
            s.head = 0
        }
    }

    /// The events kept now (for the tests and `aifs` tools): every line, whoever may read it.
    public var count: Int { state.withLock { $0.entries.count - $0.head } }

    // MARK: Reading

    /// The size (bytes of every event `caller` may read, trimmed ones included) and the time
    /// of the newest of them: what `stat` shows, so `tail -f` sees the file grow.
    public func size(for caller: Caller) -> (size: Int, modified: Double) {
        state.withLock { s in
            Self.trim(&s, now: WallClock.now())
            var size = 0, modified = started
            for group in s.groups where group.audience?.admits(caller) ?? true {
                size += group.total
                modified = max(modified, group.last)
            }
            return (size, modified)
        }
    }

    /// Up to `size` bytes of `reader`'s stream at `offset` (its descriptor's offset); empty at
    /// the end. Moves the reader's shift past trimmed events and its cursor to where it stopped.
    public func read(_ reader: inout EventReader, offset: Int, size: Int) -> [UInt8] {
        state.withLock { s in
            Self.trim(&s, now: WallClock.now())
            let visible = s.groups.map { $0.audience?.admits(reader.caller) ?? true }
            let base = zip(s.groups, visible).reduce(0) { $0 + ($1.1 ? $1.0.trimmed : 0) }
            var position = offset + reader.shift
            if position < base {
                reader.shift += base - position
                position = base
            }
            // Where to start looking: the cursor of the last read if it is still kept and not
            // past the offset asked for, else the oldest kept event.
            var seq = s.firstKeptSeq, start = base
            if let cursor = reader.cursor, cursor.seq >= s.firstKeptSeq, cursor.seq <= s.endSeq, cursor.offset <= position {
                (seq, start) = (cursor.seq, cursor.offset)
            }
            var out: [UInt8] = []
            out.reserveCapacity(min(size, 64 * 1024))
            while seq < s.endSeq, out.count < size {
                let entry = s.entries[Int(seq - s.baseSeq)]
                guard visible[entry.group] else { seq += 1; continue }
                let length = entry.bytes.count
                if position < start + length {
                    let from = position - start
                    let take = min(length - from, size - out.count)
                    out += entry.bytes[from..<(from + take)]
                    position += take
                    if from + take < length { break }  // the rest of this line is the next read's
                }
                start += length
                seq += 1
            }
            reader.cursor = (seq, start)
            return out
        }
    }
}

/// One descriptor of `/ai/events`: whose view it reads (the opener's uid and gid), how far
/// past trimmed events it has skipped, and where its last read stopped.
public struct EventReader: Sendable {
    public let caller: Caller
    /// Added to the descriptor's offsets once it fell behind a trim.
    public var shift = 0
    /// The event the last read stopped in (or before) and that event's offset.
    var cursor: (seq: UInt64, offset: Int)?
    public init(caller: Caller) { self.caller = caller }
}
