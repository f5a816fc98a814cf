import Foundation

/// One thing said or done, kept for `/ai/memory/search`: every input, reply, error and system
/// event of every socket.
public struct MemoryEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case input, reply, error, event
    }
    public var time: Double
    public var socket: String
    public var kind: Kind
    public var content: String
    /// Small facts about the entry (message id, uid, model…), stored as a JSON object.
    public var metadata: [String: String]

    public init(time: Double, socket: String, kind: Kind, content: String, metadata: [String: String] = [:]) {
        self.time = time
        self.socket = socket
        self.kind = kind
        self.content = content
        self.metadata = metadata
    }

    /// The metadata as a JSON object with sorted keys (written by hand: it is on the path of
    /// every acknowledged message, and Foundation's serializer cost 8 % of a commit).
    public var metadataJSON: String { BatchWriter.jsonObject(metadata) }
}

/// One line of a memory search result.
public struct MemoryHit: Sendable, Equatable {
    public var id: Int64
    public var time: Double
    public var socket: String
    public var kind: String
    public var snippet: String

    /// `ID<TAB>TIME<TAB>SOCKET<TAB>KIND<TAB>snippet`, on one line.
    public var line: String {
        let flat = String(snippet.map { $0 == "\n" || $0 == "\t" || $0 == "\r" ? " " : $0 })
            .trimmingCharacters(in: .whitespaces)
        return "\(MemoryID.text(id))\t\(WallClock.iso8601(time))\t\(socket)\t\(kind)\t\(flat)"
    }
}

/// Why a search could not run (a bad FTS5 query, or no durable store).
public struct MemorySearchError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Time-sortable memory ids: milliseconds since the epoch shifted left by 12 bits, plus a
/// counter for entries within the same millisecond. Ids only grow; sorting them sorts by time.
public struct MemoryID: Sendable {
    private var last: Int64 = 0

    public init(after last: Int64 = 0) { self.last = last }

    /// The next id for an entry made at `time` (seconds since the epoch).
    public mutating func next(at time: Double) -> Int64 {
        let candidate = Int64(time * 1000) << 12
        last = max(candidate, last + 1)
        return last
    }

    /// The smallest id of an entry made at or after `time`.
    public static func first(at time: Double) -> Int64 { Int64(time * 1000) << 12 }

    /// Ids print as 16 decimal digits (zero-padded), so text order is time order.
    public static func text(_ id: Int64) -> String {
        let digits = String(id)
        return digits.count >= 16 ? digits : String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// Turns what a user types after `memory/search/` into an FTS5 query.
///
/// FTS5 syntax is used as written (`"phrase"`, `a OR b`, `NEAR(a b)`, `pre*`, `col:`); plain
/// words are ANDed (FTS5 does that for barewords). Plain words that FTS5 cannot take as barewords
/// (`nginx-1.2`, `it's`) are quoted one by one, so they still work; a query that uses FTS5
/// syntax and is malformed is left as it is, so the user gets FTS5's own error.
public enum MemoryQuery {
    /// Characters that make a query FTS5 syntax rather than plain words.
    static let syntax: Set<Character> = ["\"", "(", ")", "*", "^", ":", "+"]
    static let operators: Set<String> = ["AND", "OR", "NOT", "NEAR"]

    /// True if the text uses FTS5 operators or quoting.
    public static func usesSyntax(_ text: String) -> Bool {
        if text.contains(where: { syntax.contains($0) }) { return true }
        return text.split(whereSeparator: \.isWhitespace).contains { operators.contains(String($0)) || $0.hasPrefix("NEAR(") }
    }

    /// Plain words, each quoted as an FTS5 string and ANDed. Quotes are doubled scalar by scalar:
    /// FTS5 reads bytes, and a `"` followed by a combining mark is one Swift character, which
    /// Foundation's `replacingOccurrences` did not match, leaving an unterminated string.
    public static func quotedWords(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace)
            .map { word in
                var quoted = "\""
                for scalar in word.unicodeScalars {
                    if scalar == "\"" { quoted += "\"\"" } else { quoted.unicodeScalars.append(scalar) }
                }
                return quoted + "\""
            }
            .joined(separator: " ")
    }
}
