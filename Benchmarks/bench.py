#!/usr/bin/env python3
"""aifs against the FUSE floor, a plain pipe, tmpfs, the sqlite3 CLI and direct HTTP, in one run.

    ./mount --bench [--quick] [--only CASE,…] [--update-docs]      (builds release, then runs this)
    AIFS_BIN=.build/release/aifs python3 Benchmarks/bench.py …

Every case mounts its own fresh aifs (release build, echo model, a new store in a temporary
directory unless the case says otherwise) and builds its baseline in the same run: see the
case_*.py files for what each measures. Prints one table (case, aifs, baseline, ratio, goal,
result) and writes it as JSON to Benchmarks/results/local/latest.json, which git ignores, so a
run leaves the checkout clean; with --update-docs it writes the tracked
Benchmarks/results/latest.json instead and puts the table into docs/performance.md. --quick
runs small sizes to check the harness; its figures mean nothing. Everything mounted (and the
spinners of the io case) is taken down at the end, also on failure or Ctrl-C.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, Row, aifs_binary, cleanup, loadavg, machine  # noqa: E402
import case_broadcast, case_events, case_io, case_parked, case_redis, case_scale, case_search, case_streaming, case_team  # noqa: E402

CASES = {"io": case_io, "streaming": case_streaming, "scale": case_scale, "parked": case_parked,
         "broadcast": case_broadcast, "search": case_search, "redis": case_redis, "team": case_team, "events": case_events}
HEAD = ("case", "measure", "aifs", "baseline (same run)", "ratio", "goal", "result")
DOCS = os.path.join(ROOT, "docs", "performance.md")
TRACKED_JSON = "Benchmarks/results/latest.json"   # the figures docs/performance.md shows
LOCAL_JSON = "Benchmarks/results/local/latest.json"  # a user's own runs (.gitignore)
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def markdown(rows):
    lines = ["| " + " | ".join(HEAD) + " |", "|" + " --- |" * len(HEAD)]
    for r in rows:
        lines.append("| " + " | ".join([r.case, r.measure, r.aifs, r.baseline, r.ratio, r.goal, r.verdict]) + " |")
    return "\n".join(lines)


def require_tools():
    missing = [t for t in ("gcc", "pkg-config", "fusermount3", "chrt", "taskset") if shutil.which(t) is None]
    if subprocess.run(["pkg-config", "--exists", "fuse3"]).returncode != 0 if shutil.which("pkg-config") else True:
        missing.append("libfuse3-dev")
    if shutil.which("sqlite3") is None:
        if os.geteuid() == 0:
            print("bench: installing the sqlite3 command-line tool (the search baseline)", file=sys.stderr)
            subprocess.run(["apt-get", "install", "-y", "-qq", "sqlite3"], stdout=subprocess.DEVNULL)
        if shutil.which("sqlite3") is None:
            print("bench: sqlite3 CLI missing (apt-get install sqlite3): the search row will say so", file=sys.stderr)
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)} (apt-get install gcc pkg-config fuse3 libfuse3-dev util-linux)")
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it mounts FUSE filesystems and a tmpfs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    parser.add_argument("--only", help="comma-separated cases: " + ",".join(CASES))
    parser.add_argument("--update-docs", action="store_true",
                        help="write the table into docs/performance.md and the JSON to the tracked " + TRACKED_JSON)
    parser.add_argument("--json", help=f"where to write the JSON (default {LOCAL_JSON}, which git ignores)")
    args = parser.parse_args()
    if args.json is None:
        args.json = os.path.join(ROOT, TRACKED_JSON if args.update_docs else LOCAL_JSON)
    names = args.only.split(",") if args.only else list(CASES)
    for n in names:
        if n not in CASES:
            sys.exit(f"bench: unknown case {n!r} (cases: {', '.join(CASES)})")
    require_tools()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    aifs = aifs_binary()
    info = machine()
    print(f"bench: {aifs}\nbench: {info['nproc']} cores, {info['cpu']}, kernel {info['kernel']}, "
          f"load average {info['loadavg_start']}", flush=True)
    work = tempfile.mkdtemp(prefix="aifs-bench-")
    rows, timings, started = [], {}, time.monotonic()
    try:
        for n in names:
            t = time.monotonic()
            print(f"bench: {n} …", end="", flush=True)
            try:
                rows += CASES[n].run(aifs, work, quick=args.quick)
            except Exception as error:
                traceback.print_exc()
                rows.append(Row(n, "the case failed", "—", "—", "—", "—", f"error: {error}"))
            finally:
                cleanup()
            timings[n] = round(time.monotonic() - t, 1)
            print(f" {timings[n]:.0f} s (load average {loadavg()})", flush=True)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)
    info["loadavg_end"] = loadavg()
    total = time.monotonic() - started
    table = markdown(rows)
    print()
    print(table)
    print(f"\n{total:.0f} s in all; load average at start {info['loadavg_start']}, at the end {info['loadavg_end']}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit, "quick": args.quick,
              "machine": info, "seconds": round(total, 1), "case_seconds": timings,
              "rows": [{k: getattr(r, k) for k in ("case", "measure", "aifs", "baseline", "ratio", "goal", "verdict", "numbers")}
                       for r in rows]}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"bench: wrote {args.json}")
    if args.update_docs:
        text = open(DOCS).read()
        if START not in text or END not in text:
            sys.exit(f"bench: {DOCS} has no {START} … {END} block")
        block = (f"{START}\nMeasured {result['date']} at commit `{commit}` on {info['nproc']} cores ({info['cpu']}), "
                 f"kernel {info['kernel']}, {info['memory_gib']} GiB; load average {info['loadavg_start']} at the start "
                 f"and {info['loadavg_end']} at the end; {total:.0f} s in all.\n\n{table}\n{END}")
        head, rest = text.split(START, 1)
        with open(DOCS, "w") as f:
            f.write(head + block + rest.split(END, 1)[1])
        print(f"bench: updated {DOCS}")


if __name__ == "__main__":
    main()
