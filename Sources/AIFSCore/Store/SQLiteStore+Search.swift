import Foundation
import GRDB

// MARK: Memory search

/// Memory search: runs FTS5 queries against WAL snapshots on the search queue, never blocking
/// the writer.
extension SQLiteStore {
    /// Searches once everything recorded before the call is committed and indexed, so a search
    /// sees every exchange that `cat output` has already shown (read-your-writes).
    public func search(_ query: String, limit: Int, done: @escaping @Sendable (Result<[MemoryHit], MemorySearchError>) -> Void) {
        record([], indexingMemories: true) { [self] _ in
            searchQueue.async { [self] in
                searchSlots.wait()
                defer { searchSlots.signal() }
                done(runSearch(query, limit: limit))
            }
        }
    }

    /// Runs a search now, on the calling thread.
    func runSearch(_ query: String, limit: Int) -> Result<[MemoryHit], MemorySearchError> {
        let text = query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return .failure(MemorySearchError("empty query")) }
        let first = searchFTS(text, limit: limit)
        if case .failure = first, !MemoryQuery.usesSyntax(text) {
            // Plain words FTS5 could not parse as barewords (`nginx-1.2`): quote each one.
            return searchFTS(MemoryQuery.quotedWords(text), limit: limit)
        }
        return first
    }

    private func searchFTS(_ match: String, limit: Int) -> Result<[MemoryHit], MemorySearchError> {
        do {
            let hits = try pool.read { db in
                try Row.fetchAll(db, sql: MemorySearchSQL.query, arguments: [match, limit]).map { row in
                    MemoryHit(id: row[0], time: row[1], socket: row[2], kind: row[3], snippet: row[4] ?? "")
                }
            }
            return .success(hits)
        } catch let error as DatabaseError {
            return .failure(MemorySearchError("bad search query: \(error.message ?? "\(error.resultCode)")"))
        } catch {
            return .failure(MemorySearchError("search failed: \(error)"))
        }
    }
}

/// The memory search query (also what the benchmark runs through `sqlite3`).
public enum MemorySearchSQL {
    public static let query = """
        SELECT m.id, m.time, m.socket, m.kind, snippet(memories_fts, 0, '', '', '…', 16)
        FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid
        WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?
        """
}
