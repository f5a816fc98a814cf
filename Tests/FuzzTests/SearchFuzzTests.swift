@testable import AIFSCore
import Foundation
import GRDB
import PropertyBased
import Testing

/// `/ai/memory/search/<query>` below the mount: `SQLiteStore.runSearch` on a small store, with
/// plain words (checked against a reference), FTS5 syntax, and FTS5 syntax bombs.
@Suite("fuzz: memory search")
struct SearchFuzzTests {
    static let vocabulary = ["nginx", "debian", "proxy", "install", "reverse", "kernel", "socket", "apollo", "snapshot",
                             "memory", "python", "release", "version", "network", "stream", "answer"]
    static let entries = 24

    /// The memories: vocabulary words (mixed case) between ASCII separators, and now and then a
    /// word from the zoo on its own.
    static func contents() -> [String] {
        var r = SplitMix(seed: 0x5EED)
        return (0..<entries).map { _ in
            var words: [String] = []
            for _ in 0..<r.int(1...10) {
                var word = r.pick(vocabulary)
                if r.chance(15) { word = word.uppercased() }
                if r.chance(10) { word = r.pick(["日本語", "é", "😀", "ß", "x\u{0301}y", "Ω"]) }
                words.append(word)
            }
            var text = ""
            for (i, word) in words.enumerated() {
                if i > 0 { text += r.pick([" ", " ", ", ", ". ", "-", "\n", "\t", " (", ") "]) }
                text += word
            }
            return text
        }
    }

    /// The vocabulary words an entry holds, as FTS5's tokenizer sees them (ASCII is folded to
    /// lower case; the separators above split tokens).
    static func tokens(_ content: String) -> Set<String> {
        Set(content.lowercased().split(whereSeparator: { !($0.isASCII && $0.isLetter) }).map(String.init))
    }

    // MARK: Queries

    static let bombs = [
        "\"", "\"\"", "\"unbalanced", "unbalanced\"", "NEAR(", "NEAR(a", "NEAR(a b", "NEAR(a b, ", "NEAR(a b, x)", "NEAR(a b, -1)",
        "NEAR(a b, 99999999999999999999)", "NEAR()", "NEAR", "*", "**", "a**", "* a", "^", "^^a", "a^", "(", ")", "()", "(a", "a)",
        "((a)", "AND", "OR", "NOT", "a AND", "OR a", "a NOT", "NOT a", "a OR OR b", "a AND AND b", ":", "a:", ":a", "content:", "content:a",
        "nosuchcolumn:a", "{content}:a", "{content", "-content:a", "-a", "+", "a + b", "a+b", "{", "}", "[", "]", "'", "a'b", "\\",
        "\"a\" \"b", "\"a\"b\"", "a\"b", "\"\"\"", "NEAR(\"a\" \"b\")", "NEAR(a b c d e f g h i j k l m n o p, 1)",
        "rank:a", "rowid:1", "memories_fts:a", "a NEAR b", "\"a\" *", "a * b", "a*b", "a*b*", "(a OR b) AND (c OR",
        "\u{0}", "a\u{0}b", "\"a\u{0}b\"", "\"\u{301}", "a\"\u{301}b", "(\u{301}", "*\u{301}", ":\u{301}", "a:\u{301}b", "^\u{301}a", "\u{FEFF}", "\u{0301}", "é*", "😀*", "日本語", "\"😀\"", "\t\n\r", "NEAR(😀 é)",
    ]

    enum Query: Sendable, CustomTestStringConvertible {
        /// Plain words: hits are exactly the entries holding all of them.
        case words([String], String)
        /// `a OR b`: hits are the entries holding either.
        case or(String, String, String)
        /// `pre*`: hits are the entries with a word starting with `pre`.
        case prefix(String, String)
        /// Anything else: any answer but a crash or an unexplained failure.
        case other(String)

        var text: String {
            switch self {
            case .words(_, let t), .or(_, _, let t), .prefix(_, let t), .other(let t): return t
            }
        }
        var testDescription: String { "\(self)".prefix(300) + (text.utf8.count > 300 ? "… (\(text.utf8.count) bytes)" : "") }
    }

    static func word(_ r: inout SplitMix) -> String {
        let w = r.pick(vocabulary)
        return r.chance(30) ? w.uppercased() : r.chance(20) ? w.capitalized : w
    }

    static let queries = Generator<Query, Shrink.None<Query>> { rng in
        var r = SplitMix(&rng)
        switch r.int(below: 100) {
        case 0..<20:
            let words = (0..<r.int(1...3)).map { _ in word(&r) }
            let text = (r.chance(20) ? " " : "") + words.joined(separator: r.pick([" ", "  ", "\t", " \n"])) + (r.chance(20) ? "\n" : "")
            return .words(words, text)
        case 20..<27:
            let (a, b) = (word(&r), word(&r))
            return .or(a, b, "\(a) OR \(b)")
        case 27..<34:
            let w = r.pick(vocabulary)
            let pre = String(w.prefix(r.int(2...w.count)))
            return .prefix(pre, (r.chance(30) ? pre.uppercased() : pre) + "*")
        case 34..<44:
            // Plain text FTS5 cannot take as barewords: quoted word by word, so it must work.
            let glue = ["-", ".", ",", "'", "!", "?", "/", "@", "#", "$", "%", "&", "=", ";", "<", ">", "~", "`", "[", "]", "{", "}", "|", "\\"]
            let text = (0..<r.int(1...4)).map { _ in
                r.chance(30) ? String(decoding: Zoo.bytes(&r, count: r.int(1...6), invalid: false), as: UTF8.self)
                             : word(&r) + r.pick(glue) + (r.chance(50) ? word(&r) : "1.2")
            }.joined(separator: " ")
            return .other(text)
        case 44..<60:
            // Valid-looking FTS5 syntax, built from parts.
            var parts: [String] = []
            for _ in 0..<r.int(1...5) {
                switch r.int(below: 8) {
                case 0: parts.append("\"\(word(&r)) \(word(&r))\"")
                case 1: parts.append("NEAR(\(word(&r)) \(word(&r))\(r.chance(50) ? ", \(r.int(0...20))" : ""))")
                case 2: parts.append("\(word(&r))*")
                case 3: parts.append(r.pick(["AND", "OR", "NOT"]))
                case 4: parts.append("(\(word(&r)) OR \(word(&r)))")
                case 5: parts.append("^\(word(&r))")
                case 6: parts.append("content:\(word(&r))")
                default: parts.append(word(&r))
                }
            }
            return .other(parts.joined(separator: " "))
        case 60..<75:
            return .other((0..<r.int(1...4)).map { _ in r.chance(70) ? r.pick(bombs) : word(&r) }.joined(separator: r.pick([" ", "", "\t"])))
        case 75..<80:
            // Deep parentheses, long runs of quotes or operators. (Through the mount a query is one
            // path component, at most 255 bytes; longer ones are tried here all the same.)
            let n = r.chance(90) ? r.int(1...100) : r.int(100...1000)
            switch r.int(below: 5) {
            case 0: return .other(String(repeating: "(", count: n) + word(&r) + String(repeating: ")", count: r.chance(50) ? n : r.int(0...n)))
            case 1: return .other(String(repeating: "NEAR(", count: n) + word(&r))
            case 2: return .other(String(repeating: "\"", count: n))
            case 3: return .other((0..<n).map { _ in r.pick(["a", "OR", "AND", "NOT", "*", "^", "(", ")", "\""]) }.joined(separator: " "))
            default: return .other(String(repeating: "a* ", count: min(n, 40)))
            }
        case 80:
            // Long: up to ~3 KB of words, now and then.
            guard r.chance(30) else { fallthrough }
            return .other((0..<r.int(100...400)).map { _ in r.pick(vocabulary) }.joined(separator: " "))
        case 81..<90:
            return .other(String(decoding: Zoo.bytes(&r, count: r.length(max: 200)), as: UTF8.self))
        default:
            let base = r.chance(50) ? r.pick(bombs) : "\(word(&r)) OR \"\(word(&r)) \(word(&r))\" NEAR(\(word(&r)) \(word(&r)), 3)"
            return .other(String(decoding: Mutate.bytes(Array(base.utf8), &r), as: UTF8.self))
        }
    }

    @Test("SQLiteStore.runSearch")
    func search() async throws {
        let directory = NSTemporaryDirectory() + "aifs-fuzz-search-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(options: StoreOptions(path: directory + "/aifs.db"))
        defer { store.close() }
        _ = try store.load()
        let contents = Self.contents()
        let sockets = ["a", "b", "apollo"]
        let base = 1_800_000_000.0
        let events = contents.enumerated().map { i, text in
            StoreEvent.memory(MemoryEntry(time: base + Double(i), socket: sockets[i % 3], kind: MemoryEntry.Kind.allCases[i % 4], content: text))
        }
        await withCheckedContinuation { continuation in store.record(events, indexingMemories: true) { _ in continuation.resume() } }
        // Every entry by id, and its words.
        var byID: [Int64: (socket: String, kind: String, tokens: Set<String>)] = [:]
        let ids = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT id, socket, kind, content FROM memories ORDER BY id") }
        for row in ids { byID[row[0]] = (row[1], row[2], Self.tokens(row[3])) }
        #expect(byID.count == Self.entries)

        let tally = Tally("search query")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.queries) { query in
            await tally.input()
            let result = store.runSearch(query.text, limit: 1000)
            let trimmed = query.text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch result {
            case .failure(let error):
                tally.refused += 1
                tally.check(error.message == "empty query" || error.message.hasPrefix("bad search query: ") && error.message.count > 18,
                            "an unexplained failure: \(error.message)")
                tally.check(!trimmed.isEmpty || error.message == "empty query", "an empty query not called empty")
                // Plain words are quoted one by one when FTS5 cannot take them, so they always work
                // (a path name cannot hold a NUL, so that case never reaches the store).
                tally.check(trimmed.isEmpty || MemoryQuery.usesSyntax(trimmed) || trimmed.unicodeScalars.contains("\u{0}"),
                            "plain words were refused: \(error.message)")
            case .success(let hits):
                tally.accepted += 1
                tally.check(!trimmed.isEmpty, "an empty query found something")
                tally.add("hits", hits.count)
                for hit in hits {
                    guard let entry = byID[hit.id] else { tally.check(false, "a hit that is no memory: \(hit.id)"); continue }
                    tally.check(hit.socket == entry.socket && hit.kind == entry.kind, "a hit with the wrong socket or kind")
                }
                if let line = hits.first?.line {
                    let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                    tally.check(fields.count == 5 && !line.contains("\n"), "a hit line that is not one line of 5 fields")
                }
                let found = Set(hits.map(\.id))
                tally.check(found.count == hits.count, "the same memory twice")
                func expect(_ holds: (Set<String>) -> Bool) {
                    let expected = Set(byID.filter { holds($0.value.tokens) }.keys)
                    tally.check(found == expected, "\(query.text.debugDescription): \(found.count) hits, expected \(expected.count)")
                }
                switch query {
                case .words(let words, _): expect { tokens in words.allSatisfy { tokens.contains($0.lowercased()) } }
                case .or(let a, let b, _): expect { $0.contains(a.lowercased()) || $0.contains(b.lowercased()) }
                case .prefix(let pre, _): expect { $0.contains { $0.hasPrefix(pre.lowercased()) } }
                case .other: break
                }
            }
            switch query {
            case .other: break
            default: tally.check(result.isSuccess, "a valid query failed: \(query.text.debugDescription)")
            }
        }
        tally.report(started: started)
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
