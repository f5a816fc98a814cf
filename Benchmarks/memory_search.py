#!/usr/bin/env python3
"""Memory search benchmark: `cat /ai/memory/search/WORD` against the sqlite3 CLI on the same file.

    python3 Benchmarks/memory_search.py [ROWS] [RUNS]      (default 1000000 rows, 50 runs per query)

Loads ROWS memories into a fresh store (the daemon creates the schema, python's sqlite3 bulk
loads, FTS5 triggers index), mounts it, then times each query RUNS times as a whole process —
`cat` through the mount and `sqlite3 DB "<the daemon's SQL>"` — alternating the two, and prints
p50/p99 of each and the ratio of the p50s. Goal: cat's p50 within 2x of sqlite3's.
"""
import os, random, shutil, subprocess, sys, tempfile, time

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import aifs_binary, percentile  # noqa: E402
SQL = ("SELECT m.id, m.time, m.socket, m.kind, snippet(memories_fts, 0, '', '', '…', 16) "
       "FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid "
       "WHERE memories_fts MATCH '{q}' ORDER BY rank LIMIT 100")


def timed(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def load(db, rows):
    import sqlite3
    rng = random.Random(42)
    vocabulary = [f"w{n}" for n in range(5000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like
    sockets = [f"socket{n}" for n in range(20)]
    kinds = ["input", "reply", "error", "event"]
    # Words with known frequencies: about 1 in 10 rows, 1 in 1,000 and 1 in 100,000.
    planted = {"common": 10, "medium": 1_000, "rare": 100_000}
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    base = int((time.time() - rows / 1000) * 1000) << 12
    batch, started = [], time.time()
    for n in range(rows):
        words = rng.choices(vocabulary, weights, k=rng.randint(6, 30))
        for word, every in planted.items():
            if n % every == 0:
                words.insert(rng.randrange(len(words) + 1), word)
        t = (base >> 12) / 1000 + n / 1000
        batch.append((base + (n << 12), t, sockets[n % 20], kinds[n % 4], " ".join(words), "{}"))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO memories (id, time, socket, kind, content, metadata) VALUES (?,?,?,?,?,?)", batch)
            conn.commit()
            batch = []
    if batch:
        conn.executemany("INSERT INTO memories (id, time, socket, kind, content, metadata) VALUES (?,?,?,?,?,?)", batch)
        conn.commit()
    conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.time() - started


def main():
    if shutil.which("sqlite3") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "sqlite3"], check=True)
    aifs = aifs_binary()
    work = tempfile.mkdtemp(prefix="aifs-bench-")
    mnt, db = os.path.join(work, "mnt"), os.path.join(work, "store", "aifs.db")
    os.mkdir(mnt)
    try:
        subprocess.run([aifs, "mount", mnt, "--store", db], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([aifs, "unmount", mnt], check=True, stdout=subprocess.DEVNULL)
        seconds = load(db, ROWS)
        print(f"loaded {ROWS:,} memories in {seconds:.0f} s ({os.path.getsize(db) / 1e6:.0f} MB)")
        subprocess.run([aifs, "mount", mnt, "--store", db], check=True, stdout=subprocess.DEVNULL)
        print(f"machine: {os.cpu_count()} cores, kernel {os.uname().release}; {RUNS} runs per query, after 3 warm-ups")
        print(f"{'query':<10} {'hits':>5} {'cat p50':>9} {'cat p99':>9} {'sqlite3 p50':>12} {'sqlite3 p99':>12} {'ratio p50':>10}")
        for word in ["rare", "medium", "common", "w7 w42"]:
            path = os.path.join(mnt, "memory", "search", word)
            sql = SQL.format(q=word)
            hits = subprocess.run(["cat", path], capture_output=True, text=True, check=True).stdout.count("\n")
            for _ in range(3):
                timed(["cat", path]); timed(["sqlite3", db, sql])
            cat, cli = [], []
            for _ in range(RUNS):
                cat.append(timed(["cat", path]))
                cli.append(timed(["sqlite3", db, sql]))
            print(f"{word:<10} {hits:>5} {percentile(cat, 50):>7.2f}ms {percentile(cat, 99):>7.2f}ms "
                  f"{percentile(cli, 50):>10.2f}ms {percentile(cli, 99):>10.2f}ms {percentile(cat, 50) / percentile(cli, 50):>9.2f}x")
        print("goal: cat p50 within 2x of sqlite3 p50")
    finally:
        subprocess.run([aifs, "unmount", mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
