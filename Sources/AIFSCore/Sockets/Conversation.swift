/// A socket's conversation context, kept so that a message costs the same however long the
/// history is.
///
/// - Turns are merged as they are appended: a turn with the role of the last one (a team
///   discussion note before the next question) joins it, a blank line between, so the turns
///   always alternate and a request never has to merge them again.
/// - The token estimate (UTF-8 bytes / 4, per stored turn) is kept as a running total, so
///   trimming to `context-tokens` never walks the history.
/// - The oldest turns are dropped by moving a start index (compacted now and then), and a
///   request gets the live turns as a slice of the same storage: no turn is copied or
///   retained one by one.
///
/// The store keeps the turns as they came (one row each); each merged turn remembers how many
/// stored turns it stands for, so that what is dropped here is dropped there too.
struct Conversation: Sendable {
    /// What a merged turn stands for: how many stored turns, and their token estimate.
    private struct Weight: Sendable {
        var rows: Int
        var tokens: Int
    }

    private var storage: [Turn] = []
    private var weights: [Weight] = []
    private var start = 0
    /// The token estimate of every live turn.
    private(set) var tokens = 0
    /// Stored turns (rows) the live turns stand for.
    private(set) var rows = 0

    init() {}

    /// A conversation from stored turns, in order (merged as they are added).
    init<S: Sequence>(_ turns: S) where S.Element == Turn {
        for turn in turns { append(turn) }
    }

    static func tokens(_ bytes: Int) -> Int { (bytes + 3) / 4 }

    var isEmpty: Bool { start == storage.count }
    /// Merged turns held.
    var count: Int { storage.count - start }

    /// The live turns, merged, oldest first: a view of the storage, not a copy.
    var turns: ArraySlice<Turn> { storage[start...] }

    /// Appends one stored turn, merging it into the last turn if that has the same role.
    mutating func append(_ turn: Turn) {
        let cost = Self.tokens(turn.content.count)
        tokens += cost
        rows += 1
        if storage.count > start, storage[storage.count - 1].role == turn.role {
            let last = storage.count - 1
            storage[last].content.append(contentsOf: Self.separator)
            storage[last].content.append(contentsOf: turn.content)
            weights[last].rows += 1
            weights[last].tokens += cost
        } else {
            storage.append(turn)
            weights.append(Weight(rows: 1, tokens: cost))
        }
    }

    mutating func append<S: Sequence>(contentsOf turns: S) where S.Element == Turn {
        for turn in turns { append(turn) }
    }

    /// The text between merged turns.
    static let separator: [UInt8] = Array("\n\n".utf8)

    /// Drops the oldest exchange — a user turn with the reply after it, or one turn alone —
    /// and returns how many stored turns that was (0 when empty).
    mutating func dropOldest() -> Int {
        guard !isEmpty else { return 0 }
        let pair = count >= 2 && storage[start].role == .user && storage[start + 1].role == .assistant
        var dropped = 0
        for _ in 0..<(pair ? 2 : 1) {
            dropped += weights[start].rows
            tokens -= weights[start].tokens
            rows -= weights[start].rows
            start += 1
        }
        compactIfSparse()
        return dropped
    }

    mutating func removeAll() {
        storage.removeAll()
        weights.removeAll()
        start = 0
        tokens = 0
        rows = 0
    }

    /// Frees the dropped turns once they are most of the storage (amortized O(1) per drop).
    private mutating func compactIfSparse() {
        guard start > 64, start * 2 > storage.count else { return }
        storage.removeFirst(start)
        weights.removeFirst(start)
        start = 0
    }

    /// What a request for `message` sends: the turns before it, shared with this conversation,
    /// and the message itself, with a trailing user turn (a discussion note) merged into it.
    func request(for message: [UInt8]) -> (history: ArraySlice<Turn>, message: [UInt8]) {
        guard let last = turns.last, last.role == .user else { return (turns, message) }
        return (turns.dropLast(), last.content + Self.separator + message)
    }
}

extension Conversation {
    /// What a compaction of the `count` oldest merged turns asks the model: those turns, and
    /// the instruction as the last user message (merged into a trailing user turn).
    func compactionRequest(_ count: Int, instruction: [UInt8]) -> (history: ArraySlice<Turn>, message: [UInt8]) {
        let prefix = turns.prefix(count)
        guard let last = prefix.last, last.role == .user else { return (prefix, instruction) }
        return (prefix.dropLast(), last.content + Self.separator + instruction)
    }

    /// Stored turns (rows) the `count` oldest merged turns stand for.
    func rows(ofOldest count: Int) -> Int {
        weights[start..<(start + min(count, self.count))].reduce(0) { $0 + $1.rows }
    }

    /// The token estimate of the `count` oldest merged turns.
    func tokens(ofOldest count: Int) -> Int {
        weights[start..<(start + min(count, self.count))].reduce(0) { $0 + $1.tokens }
    }

    /// How many of the oldest merged turns, at most `count`, fit in `budget` tokens.
    func oldest(_ count: Int, fitting budget: Int) -> Int {
        var used = 0
        for (n, weight) in weights[start..<(start + min(count, self.count))].enumerated() {
            used += weight.tokens
            if used > budget { return n }
        }
        return min(count, self.count)
    }

    /// The `count` oldest merged turns replaced by `summary`: the turns as the store now holds
    /// them (a new conversation, each one a row).
    mutating func replaceOldest(_ count: Int, with summary: Turn) -> [Turn] {
        let rows = [summary] + turns.dropFirst(count)
        self = Conversation(rows)
        return rows
    }
}

extension Conversation: Equatable {
    static func == (a: Conversation, b: Conversation) -> Bool { a.turns == b.turns }
}
