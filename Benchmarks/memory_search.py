#!/usr/bin/env python3
"""Memory search benchmark: `cat /ai/memory/search/WORD` against the sqlite3 CLI on the same file.

    python3 Benchmarks/memory_search.py [ROWS] [RUNS]      (default 1000000 rows, 50 runs per query)

Loads ROWS memories into a fresh store (the daemon creates the schema, python's sqlite3 bulk
loads, FTS5 triggers index), mounts it, then times each query RUNS times as a whole process —
`cat` through the mount and `sqlite3 DB "<the daemon's SQL>"` — alternating the two, and prints
p50/p99 of each and the ratio of the p50s. Goal: cat's p50 within 2x of sqlite3's.
"""
import os, shutil, subprocess, sys, tempfile, time

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import aifs_binary, percentile  # noqa: E402
from search_data import SQL, load  # noqa: E402


def timed(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


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
