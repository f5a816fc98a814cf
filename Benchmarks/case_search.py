"""Case `search` of bench.py: memory search over 1,000,000 memories.

The data set is built once per run (search_data.py; nothing is kept between runs): a fresh
store whose schema a short-lived aifs created, filled by python's sqlite3. Then aifs is
mounted on it and each query runs as a whole process, alternately: `cat /ai/memory/search/Q`
and `sqlite3 DB "<the daemon's SQL>"` (the sqlite3 command-line tool on the same file).
p50 of each per query; goal: cat within 2× of sqlite3.
"""
import os, shutil, subprocess, time
from bench_common import Row, aifs_mount, fmt_ms, judged, median
from search_data import QUERIES, SQL, load

ROWS = 1_000_000


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def run(aifs, work, quick=False):
    if shutil.which("sqlite3") is None:
        return [Row("search", "p50 query", "—", "—", "—", "≤ 2×", "not available (sqlite3 CLI missing: apt-get install sqlite3)")]
    rows = 50_000 if quick else ROWS
    schema = aifs_mount(aifs, work, "search", "disk")
    db = schema.store
    schema.stop()
    seconds = load(db, rows)
    size = os.path.getsize(db)
    daemon = aifs_mount(aifs, work, "search", "disk")
    if daemon.store != db:
        raise RuntimeError("the search store moved")
    runs = 5 if quick else 20
    out = []
    for q in QUERIES:
        path = os.path.join(daemon.mnt, "memory", "search", q)
        hits = subprocess.run(["cat", path], capture_output=True, text=True, check=True).stdout.count("\n")
        sql = SQL.format(q=q)
        for _ in range(3):
            timed(["cat", path]), timed(["sqlite3", db, sql])  # warm-up
        cat, cli = [], []
        for _ in range(runs):
            cat.append(timed(["cat", path]))
            cli.append(timed(["sqlite3", db, sql]))
        r = median(cat) / median(cli)
        numbers = {"rows": rows, "db_bytes": size, "load_s": seconds, "hits": hits, "cat_s": cat, "sqlite3_s": cli}
        out.append(Row("search", f"{rows:,} memories, p50 of `{q}` ({hits} hits)", fmt_ms(median(cat)),
                       f"sqlite3 CLI {fmt_ms(median(cli))}", f"{r:.2f}×", "≤ 2×", judged(r <= 2), numbers))
    daemon.stop()
    return out
