/// One turn of a socket's conversation as it was said, kept as a place in its transcript: the
/// exchange it belongs to (`#N` in the transcript; 0 for a team discussion note, which belongs
/// to none), its role, and where its exact bytes start in `transcript` and how many they are.
public struct HistoryEntry: Sendable, Equatable {
    public var exchange: Int
    public var role: Turn.Role
    public var start: Int
    public var length: Int
    public init(exchange: Int, role: Turn.Role, start: Int, length: Int) {
        self.exchange = exchange
        self.role = role
        self.start = start
        self.length = length
    }
}

/// Every turn of a socket's conversation since its last `reset`, whole, however the context
/// has been trimmed or compacted since: what `uncompact` rebuilds the context from and what
/// `fork NAME TURN` copies.
///
/// The words themselves are the transcript's (which is append-only and never loses one); this
/// keeps only where each turn is in it, about 32 bytes a turn, so a long conversation is not
/// held twice. Exchanges are numbered from 1 in the order they were answered; a reset starts
/// again from 1, and a restore brings back the numbering of its snapshot.
struct History: Sendable, Equatable {
    private(set) var entries: [HistoryEntry] = []
    /// The number of the last exchange (0: none yet).
    private(set) var exchanges = 0

    init() {}

    init(_ entries: [HistoryEntry]) {
        self.entries = entries
        exchanges = entries.map(\.exchange).max() ?? 0
    }

    /// The number the next exchange gets.
    var nextExchange: Int { exchanges + 1 }

    /// Records a completed exchange (its question and its reply) as the next number.
    mutating func appendExchange(question: Range<Int>, reply: Range<Int>) -> [HistoryEntry] {
        exchanges += 1
        let added = [HistoryEntry(exchange: exchanges, role: .user, start: question.lowerBound, length: question.count),
                     HistoryEntry(exchange: exchanges, role: .assistant, start: reply.lowerBound, length: reply.count)]
        entries += added
        return added
    }

    /// Records a discussion note (a user turn of no exchange).
    mutating func appendNote(_ range: Range<Int>) -> HistoryEntry {
        let entry = HistoryEntry(exchange: 0, role: .user, start: range.lowerBound, length: range.count)
        entries.append(entry)
        return entry
    }

    /// Appends entries as they are (a fork's copy, whose places are in its own transcript).
    mutating func append(_ added: [HistoryEntry]) {
        entries += added
        exchanges = max(exchanges, added.map(\.exchange).max() ?? 0)
    }

    mutating func removeAll() {
        entries.removeAll()
        exchanges = 0
    }

    /// The entries up to and including exchange `turn` (the notes before it too).
    func entries(through turn: Int) -> ArraySlice<HistoryEntry> {
        guard let last = entries.lastIndex(where: { $0.exchange != 0 && $0.exchange <= turn }) else { return [] }
        return entries[...last]
    }

    /// The turns of `entries`, read from `transcript`. An entry outside the transcript (it
    /// cannot happen unless the store was edited by hand) is left out.
    static func turns<C: Collection>(_ entries: C, in transcript: [UInt8]) -> [Turn] where C.Element == HistoryEntry {
        entries.compactMap { entry in
            guard inBounds(entry, transcript) else { return nil }
            return Turn(role: entry.role, content: Array(transcript[entry.start..<(entry.start + entry.length)]))
        }
    }

    private static func inBounds(_ entry: HistoryEntry, _ transcript: [UInt8]) -> Bool {
        entry.start >= 0 && entry.length >= 0 && entry.start <= transcript.count && entry.length <= transcript.count - entry.start
    }

    /// Whether this history can stand for `context`: every place is an entry's body in
    /// `transcript` (it starts right after a header line and ends at a line end), and the
    /// context's last turn ends with the history's last turn. It cannot when the turns came
    /// from elsewhere: a store from before the history was kept, a snapshot whose transcript
    /// is not this one's, bytes the store failed to keep (places computed past them).
    func covers(_ context: Conversation, in transcript: [UInt8]) -> Bool {
        for entry in entries {
            guard Self.inBounds(entry, transcript), entry.start > 0, transcript[entry.start - 1] == 0x0A else { return false }
            // The body ends a line: its own last byte is a newline, or the one added after it.
            let end = entry.start + entry.length
            guard (entry.length > 0 && transcript[end - 1] == 0x0A) || end == transcript.count || transcript[end] == 0x0A else { return false }
        }
        guard let last = context.turns.last else { return true }
        guard let entry = entries.last, entry.role == last.role else { return false }
        return last.content.count >= entry.length
            && last.content[(last.content.count - entry.length)...].elementsEqual(transcript[entry.start..<(entry.start + entry.length)])
    }

    /// Where a message's exact bytes are in the transcript when its place was not kept (it was
    /// queued before a restart): the last body that is `content` right after a header line of
    /// message `id` (`… id=N\n` or `… id=N round=R\n`). Nil if not found.
    static func locate(content: [UInt8], messageID id: UInt64, in transcript: [UInt8]) -> Range<Int>? {
        let marker = Array(" id=\(id)".utf8)
        guard transcript.count >= marker.count + 1 + content.count else { return nil }
        var end = transcript.count
        while let at = lastIndex(of: marker, in: transcript, before: end) {
            end = at
            var lineEnd = at + marker.count
            if lineEnd < transcript.count, transcript[lineEnd] == 0x20 {  // " round=R"
                while lineEnd < transcript.count, transcript[lineEnd] != 0x0A { lineEnd += 1 }
            }
            guard lineEnd < transcript.count, transcript[lineEnd] == 0x0A else { continue }
            let start = lineEnd + 1
            guard start + content.count <= transcript.count,
                  transcript[start..<(start + content.count)].elementsEqual(content) else { continue }
            return start..<(start + content.count)
        }
        return nil
    }

    /// The places of `turns` found again in `transcript`, each the last entry body before the
    /// next one's (or, where the store wrote entries in another order, the last anywhere: a
    /// place only has to hold the turn's bytes), numbered as exchanges from #1 (a question with
    /// the reply after it); nil if one is not there as a whole body (a turn merged from
    /// several, or never written).
    static func relocate(_ turns: [Turn], in transcript: [UInt8]) -> [HistoryEntry]? {
        var places: [Range<Int>] = []
        var end = transcript.count
        for turn in turns.reversed() {
            guard let place = lastBody(turn.content, in: transcript, before: end)
                    ?? lastBody(turn.content, in: transcript, before: transcript.count) else { return nil }
            places.append(place)
            end = min(end, place.lowerBound)
        }
        places.reverse()
        return zip(exchangeNumbers(turns), zip(turns, places)).map { number, pair in
            HistoryEntry(exchange: number, role: pair.0.role, start: pair.1.lowerBound, length: pair.1.count)
        }
    }

    /// Exchange numbers for turns that carry none, from #1: a question with the reply right
    /// after it is an exchange; any other turn is 0 (a note).
    static func exchangeNumbers(_ turns: [Turn]) -> [Int] {
        var exchange = 0
        return turns.indices.map { i in
            let opens = turns[i].role == .user && i + 1 < turns.count && turns[i + 1].role == .assistant
            if opens { exchange += 1 }
            let closes = turns[i].role == .assistant && i > 0 && turns[i - 1].role == .user
            return opens || closes ? exchange : 0
        }
    }

    /// The last place before `end` where `content` is an entry's whole body: right after a
    /// header line (one that starts with `[`), and ending a line.
    private static func lastBody(_ content: [UInt8], in transcript: [UInt8], before end: Int) -> Range<Int>? {
        var limit = end
        while true {
            let found: Int?
            if content.isEmpty {
                found = limit > 0 && transcript[limit - 1] == 0x0A ? limit : nil
            } else {
                found = lastIndex(of: content, in: transcript, before: limit)
            }
            guard let start = found else { return nil }
            let stop = start + content.count
            let endsLine = (content.last == 0x0A) || stop == transcript.count || transcript[stop] == 0x0A
            if start > 0, transcript[start - 1] == 0x0A, endsLine {
                var lineStart = start - 1
                while lineStart > 0, transcript[lineStart - 1] != 0x0A { lineStart -= 1 }
                if lineStart < start - 1, transcript[lineStart] == UInt8(ascii: "[") { return start..<stop }
            }
            guard start > 0, !content.isEmpty else { return nil }
            limit = start + content.count - 1
        }
    }

    private static func lastIndex(of needle: [UInt8], in haystack: [UInt8], before end: Int) -> Int? {
        var i = end - needle.count
        while i >= 0 {
            if haystack[i] == needle[0], haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
    }
}
