#!/usr/bin/env python3
"""Echo round trips with the durable store against the in-memory store, in one run.

    python3 Benchmarks/echo_throughput.py [MESSAGES]       (default 2000)

For each store (a fresh SQLite file, then `--store memory`) it mounts the release build and
measures, from one python process (os.open/os.write/os.close/os.read, so process start-up does
not count):
  - sequential: write one message to s/input (close() waits for the commit), read s/output to
    EOF; MESSAGES times. Prints messages/s and p50/p99 round-trip latency.
  - concurrent: 8 threads on 8 sockets doing the same (MESSAGES/8 each), showing group commit.
Goal: the durable store's sequential throughput within 1.5x of the in-memory store's.
"""
import os, shutil, subprocess, sys, tempfile, threading, time

MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import aifs_binary, percentile  # noqa: E402


def round_trip(sock, n):
    fd = os.open(f"{sock}/input", os.O_WRONLY)
    os.write(fd, f"message number {n}\n".encode())
    os.close(fd)
    fd = os.open(f"{sock}/output", os.O_RDONLY)
    while os.read(fd, 65536):
        pass
    os.close(fd)


def sequential(mnt, count):
    sock = f"{mnt}/seq"
    os.mkdir(sock)
    for n in range(50):
        round_trip(sock, n)  # warm-up
    latencies = []
    start = time.perf_counter()
    for n in range(count):
        t = time.perf_counter()
        round_trip(sock, n)
        latencies.append((time.perf_counter() - t) * 1000)
    elapsed = time.perf_counter() - start
    return count / elapsed, percentile(latencies, 50), percentile(latencies, 99)


def concurrent(mnt, count, threads=8):
    socks = [f"{mnt}/con{i}" for i in range(threads)]
    for s in socks:
        os.mkdir(s)
    per = count // threads
    def work(s):
        for n in range(per):
            round_trip(s, n)
    workers = [threading.Thread(target=work, args=(s,)) for s in socks]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per * threads / (time.perf_counter() - start)


def store_writes(mnt):
    for line in open(f"{mnt}/ctl"):
        if line.startswith("store-writes:"):
            return line.split(":", 1)[1].strip()
    return "-"


def main():
    aifs = aifs_binary()
    work = tempfile.mkdtemp(prefix="aifs-bench-")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    results = {}
    try:
        for label, store in [("durable (SQLite)", os.path.join(work, "store", "aifs.db")), ("memory", "memory")]:
            subprocess.run([aifs, "mount", mnt, "--store", store], check=True, stdout=subprocess.DEVNULL)
            try:
                rate, p50, p99 = sequential(mnt, MESSAGES)
                crate = concurrent(mnt, MESSAGES)
                results[label] = (rate, p50, p99, crate, store_writes(mnt))
            finally:
                subprocess.run([aifs, "unmount", mnt], check=True, stdout=subprocess.DEVNULL)
        print(f"machine: {os.cpu_count()} cores, kernel {os.uname().release}; {MESSAGES} messages per test")
        print(f"{'store':<18} {'seq msg/s':>10} {'p50':>8} {'p99':>8} {'8 writers msg/s':>16}  store writes")
        for label, (rate, p50, p99, crate, writes) in results.items():
            print(f"{label:<18} {rate:>10.0f} {p50:>6.2f}ms {p99:>6.2f}ms {crate:>16.0f}  {writes}")
        durable, memory = results["durable (SQLite)"], results["memory"]
        print(f"memory/durable throughput: sequential {memory[0] / durable[0]:.2f}x, 8 writers {memory[3] / durable[3]:.2f}x "
              f"(goal: at most 1.5x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
