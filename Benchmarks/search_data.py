"""The memory-search data set shared by case_search.py and memory_search.py: ROWS memories
of Zipf-distributed words `w0`…`w4999`, plus planted words with known frequencies
(`common` 1 row in 10, `medium` 1 in 1,000, `rare` 1 in 100,000), loaded with python's sqlite3
into a store whose schema the daemon created, then indexed for search at once.
`SQL` is the daemon's search query, for the sqlite3 command-line tool.
"""
import random, sqlite3, time

SQL = ("SELECT m.id, m.time, m.socket, m.kind, snippet(memories_fts, 0, '', '', '…', 16) "
       "FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid "
       "WHERE memories_fts MATCH '{q}' ORDER BY rank LIMIT 100")
QUERIES = ["rare", "medium", "common", "w7 w42"]


def load(db, rows):
    """Fills the store at `db`; returns the seconds it took."""
    rng = random.Random(42)
    vocabulary = [f"w{n}" for n in range(5000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like
    sockets = [f"socket{n}" for n in range(20)]
    kinds = ["input", "reply", "error", "event"]
    planted = {"common": 10, "medium": 1_000, "rare": 100_000}
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    base = int((time.time() - rows / 1000) * 1000) << 12
    insert = "INSERT INTO memories (id, time, socket, kind, content, metadata) VALUES (?,?,?,?,?,?)"
    batch, started = [], time.time()
    for n in range(rows):
        words = rng.choices(vocabulary, weights, k=rng.randint(6, 30))
        for word, every in planted.items():
            if n % every == 0:
                words.insert(rng.randrange(len(words) + 1), word)
        t = (base >> 12) / 1000 + n / 1000
        batch.append((base + (n << 12), t, sockets[n % 20], kinds[n % 4], " ".join(words), "{}"))
        if len(batch) == 50_000:
            conn.executemany(insert, batch)
            conn.commit()
            batch = []
    if batch:
        conn.executemany(insert, batch)
        conn.commit()
    # The daemon indexes memories after their commit, from meta.memory_indexed: index all of
    # them here, as the daemon would, and record that they are.
    conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
    conn.execute("UPDATE meta SET value = (SELECT coalesce(max(id), 0) FROM memories) WHERE key = 'memory_indexed'")
    conn.commit()
    conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.time() - started
