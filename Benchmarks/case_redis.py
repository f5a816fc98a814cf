"""Case `redis` of bench.py: the echo round trip through the Redis backend on loopback against
the embedded SQLite store, in the same run.

Two aifs daemons are mounted at once: one with a fresh SQLite store (the default), one with
`[store] backend = "redis"` on a `redis-server` this case starts on a free loopback port (no
persistence, so Redis costs only its CPU and the network hop). Each round trip writes 64 bytes
to `input` (its `close()` returns once the message is durable: committed to SQLite, or in the
Redis log and applied) and reads `output` to end of file; blocks of each alternate, a new socket
per block. Also measured: the same round trip written through a second daemon of the cluster
and read on the first (the cross-host path). There is no goal in the issue: the figures are
reported.
"""
import os, shutil, socket, subprocess, time
from bench_common import CLEANUP, Row, aifs_mount, fmt_us, percentile, round_trip

MESSAGE = b"x" * 63 + b"\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_redis(work):
    port = free_port()
    data = os.path.join(work, "redis")
    os.makedirs(data, exist_ok=True)
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", data, "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    CLEANUP.append(lambda: (proc.kill(), proc.wait()))
    for _ in range(200):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
            return port
        time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


def measure(inputs_outputs, count):
    times = []
    for inp, out in inputs_outputs:
        for _ in range(count):
            t = time.perf_counter()
            round_trip(inp, out, MESSAGE)
            times.append(time.perf_counter() - t)
    return times


def run(aifs, work, quick=False):
    if shutil.which("redis-server") is None:
        return [Row("redis", "round trip through Redis vs SQLite", "—", "—", "—", "—",
                    "not available (apt-get install redis-server)")]
    port = start_redis(work)
    config = f'[store]\nbackend = "redis"\nurl = "redis://127.0.0.1:{port}/0"\n'
    sqlite = aifs_mount(aifs, work, "redis-sqlite", "disk")
    first = aifs_mount(aifs, work, "redis-a", "disk", config=config)
    second = aifs_mount(aifs, work, "redis-b", "disk", config=config)
    try:
        blocks, per_block = (3, 50) if quick else (10, 200)
        results = {"sqlite": [], "redis": [], "cross": []}
        for b in range(blocks):
            for name, write_mnt, read_mnt in [("sqlite", sqlite.mnt, sqlite.mnt), ("redis", first.mnt, first.mnt),
                                              ("cross", second.mnt, first.mnt)]:
                sock = f"r{b}-{name}"
                os.mkdir(os.path.join(write_mnt, sock))
                while not os.path.exists(os.path.join(read_mnt, sock, "output")):
                    time.sleep(0.001)
                # warm the socket, then measure
                round_trip(os.path.join(write_mnt, sock, "input"), os.path.join(read_mnt, sock, "output"), MESSAGE)
                results[name] += measure([(os.path.join(write_mnt, sock, "input"), os.path.join(read_mnt, sock, "output"))],
                                         per_block)
        rows = []
        base50, base99 = percentile(results["sqlite"], 50), percentile(results["sqlite"], 99)
        for name, label in [("redis", "one daemon, Redis backend"), ("cross", "written on daemon B, read on A (Redis)")]:
            p50, p99 = percentile(results[name], 50), percentile(results[name], 99)
            rows.append(Row("redis", f"round trip p50, {label}", fmt_us(p50), f"SQLite store {fmt_us(base50)}",
                            f"{p50 / base50:.2f}×", "—", "info", {"p50_s": p50, "sqlite_p50_s": base50}))
            rows.append(Row("redis", f"round trip p99, {label}", fmt_us(p99), f"SQLite store {fmt_us(base99)}",
                            f"{p99 / base99:.2f}×", "—", "info", {"p99_s": p99, "sqlite_p99_s": base99}))
        return rows
    finally:
        for d in (second, first, sqlite):
            d.stop()
