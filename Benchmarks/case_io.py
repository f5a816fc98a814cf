"""Cases `round trip`, `daemon`, `history`, `throughput` and `durability` of bench.py.

Four targets are mounted at once and measured in interleaved blocks, so that a burst of load
on the machine hits all of them alike:
  floor   Benchmarks/floor/fusefloor.c: the same open/write/close, open/read/read/close on a
          libfuse filesystem that does nothing (the FUSE floor);
  disk    aifs with the echo model and a fresh SQLite store (what a user gets);
  memory  aifs with the echo model and `--store memory`;
  pipe    a named-pipe round trip to a `cat` process (write 64 B, read 64 B back).
Each round trip sends 64 bytes (63 + newline; the echo reply is the same 64 bytes). Each block
of aifs round trips uses a new socket: a socket keeps its conversation, and what a long one
costs is measured apart (io_history.py: sockets holding 10,000 and 100,000 exchanges).
Every round has each target's block twice: once with a spinner on every vCPU (bench_common.
Spinners: idle priority, they yield to any real work) and once with the vCPUs left idle, so
the figures come both ways; the goals are judged on the awake blocks. Around every block, the
daemon's CPU time and context switches (all its threads, from /proc) are counted.
Throughput: the same round trip from 1 and from 16 client processes, each on its own socket,
for a fixed time, counted (no spinners: 16 clients keep both vCPUs busy).
"""
import multiprocessing, os, subprocess, time
import io_history
from bench_common import (Row, Spinners, Usage, aifs_mount, floor_mount, fmt_us, judged, percentile,
                          round_trip, CLEANUP)

MESSAGE = b"x" * 63 + b"\n"
WAYS = {True: "vCPUs kept awake", False: "idle vCPUs"}
HISTORY_LIMIT = 90  # seconds to build one socket's history, per size (see io_history.py)


def pipe_target(work):
    """A `cat` process between two FIFOs; returns a function doing one round trip."""
    a, b = os.path.join(work, "fifo-in"), os.path.join(work, "fifo-out")
    os.mkfifo(a)
    os.mkfifo(b)
    cat = subprocess.Popen(["sh", "-c", f"exec cat < {a} > {b}"])
    CLEANUP.append(lambda: (cat.kill(), cat.wait()))
    wfd = os.open(a, os.O_WRONLY)
    rfd = os.open(b, os.O_RDONLY)
    CLEANUP.append(lambda: (os.close(wfd), os.close(rfd)))

    class Pipe(FloorTarget):
        def __init__(self):
            pass

        def __call__(self):
            os.write(wfd, MESSAGE)
            got = 0
            while got < len(MESSAGE):
                got += len(os.read(rfd, 65536))
            return got
    return Pipe()


class FloorTarget:
    def __init__(self, mnt):
        self.inp, self.out = os.path.join(mnt, "in"), os.path.join(mnt, "out")

    def new_block(self):
        pass

    def __call__(self):
        return round_trip(self.inp, self.out, MESSAGE)


class SocketTarget(FloorTarget):
    """Round trips on an aifs socket; a new socket for every block."""

    def __init__(self, mnt, prefix="rt"):
        self.mnt, self.prefix, self.blocks = mnt, prefix, 0
        self.new_block()

    def new_block(self):
        sock = os.path.join(self.mnt, f"{self.prefix}{self.blocks}")
        self.blocks += 1
        os.mkdir(sock)
        self.inp, self.out = os.path.join(sock, "input"), os.path.join(sock, "output")


def interleaved(targets, rounds, block, warmup, spinners, usage):
    """Latencies (s) per (target, awake): each round runs one block per target with the vCPUs
    kept awake by the spinners and one with them idle, the order alternating from round to
    round. `usage` maps (target, awake) to the Usage that counts that daemon's CPU time and
    context switches over its blocks (the new socket is made before the counting starts)."""
    for name, fn in targets.items():
        for _ in range(warmup):
            n = fn()
        assert n == len(MESSAGE), f"{name}: read {n} bytes, expected {len(MESSAGE)}"
    lat = {(name, awake): [] for name in targets for awake in (True, False)}
    for r in range(rounds):
        for awake in ((True, False) if r % 2 == 0 else (False, True)):
            spinners.awake(awake)
            for name, fn in targets.items():
                fn.new_block()
                samples, counter = lat[(name, awake)], usage.get((name, awake))
                if counter:
                    counter.begin()
                for _ in range(block):
                    t = time.perf_counter()
                    fn()
                    samples.append(time.perf_counter() - t)
                if counter:
                    counter.end(block)
    spinners.awake(False)
    return lat


def _client(sock, start, stop_at, counts):
    inp, out = os.path.join(sock, "input"), os.path.join(sock, "output")
    for _ in range(20):
        round_trip(inp, out, MESSAGE)  # warm-up
    start.wait()
    n, deadline = 0, stop_at.value
    while time.monotonic() < deadline:
        round_trip(inp, out, MESSAGE)
        n += 1
    counts.put(n)


def throughput(mnt, clients, seconds, tag):
    """Round trips/s with `clients` processes, each on its own socket, for `seconds`."""
    ctx = multiprocessing.get_context("fork")
    socks = []
    for i in range(clients):
        sock = os.path.join(mnt, f"{tag}{i}")
        os.mkdir(sock)
        socks.append(sock)
    start, counts = ctx.Event(), ctx.Queue()
    stop_at = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_client, args=(s, start, stop_at, counts)) for s in socks]
    for p in procs:
        p.start()
    time.sleep(0.5 + 0.05 * clients)  # let every client finish its warm-up
    stop_at.value = time.monotonic() + seconds
    start.set()
    total = sum(counts.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def run(aifs, work, quick=False):
    spinners = Spinners()
    floor = floor_mount(work)
    disk = aifs_mount(aifs, work, "io-disk", "disk")
    memory = aifs_mount(aifs, work, "io-memory", "memory")
    targets = {"floor": FloorTarget(floor.mnt), "disk": SocketTarget(disk.mnt),
               "memory": SocketTarget(memory.mnt), "pipe": pipe_target(work)}
    daemons = {"floor": floor, "disk": disk, "memory": memory}
    usage = {(k, awake): Usage(d.pid) for k, d in daemons.items() for awake in (True, False)}
    rounds, block = (2, 100) if quick else (10, 400)
    t0 = time.monotonic()
    lat = interleaved(targets, rounds, block, warmup=200, spinners=spinners, usage=usage)
    seconds_rt = time.monotonic() - t0
    p50 = {k: percentile(v, 50) for k, v in lat.items()}
    p99 = {k: percentile(v, 99) for k, v in lat.items()}
    rate = {k: len(v) / sum(v) for k, v in lat.items()}
    per = {k: u.per_op() for k, u in usage.items()}
    t0 = time.monotonic()
    seconds = 1.5 if quick else 3.0
    tp = {}
    for store, m in (("disk", disk), ("memory", memory)):
        one = [throughput(m.mnt, 1, seconds, f"one{r}-") for r in range(2)]
        many = [throughput(m.mnt, 16, seconds, f"many{r}-") for r in range(2)]
        tp[store] = (sum(one) / 2, sum(many) / 2)
    seconds_tp = time.monotonic() - t0
    t0 = time.monotonic()
    sizes = ((1000, 1.1), (3000, 1.2)) if quick else ((10_000, 1.1), (100_000, 1.2))
    history_rows, history = io_history.run({"disk": disk, "memory": memory}, MESSAGE, spinners, sizes,
                                           limit=20 if quick else HISTORY_LIMIT)
    seconds_history = time.monotonic() - t0

    def keyed(d):
        return {f"{k}_{'awake' if awake else 'idle'}": v for (k, awake), v in d.items()}
    numbers = {"samples_per_way": len(lat[("floor", True)]), "p50_s": keyed(p50), "p99_s": keyed(p99),
               "rate_per_s": keyed(rate), "daemon_usage": keyed({k: u.numbers() for k, u in usage.items()}),
               "throughput_per_s": {k: {"1": v[0], "16": v[1]} for k, v in tp.items()},
               "history": history, "spinners": len(spinners.procs),
               "seconds": {"round_trips": round(seconds_rt, 1), "throughput": round(seconds_tp, 1),
                           "history": round(seconds_history, 1)}}
    rows = []
    for store, goal in (("disk", 3), ("memory", 2)):
        label = "store on disk" if store == "disk" else "--store memory"
        for awake in (True, False):
            r = p50[(store, awake)] / p50[("floor", awake)]
            rows.append(Row("round trip", f"p50, 64 B, one client, {label}, {WAYS[awake]}", fmt_us(p50[(store, awake)]),
                            f"FUSE floor {fmt_us(p50[('floor', awake)])}", f"{r:.2f}×",
                            f"≤ {goal}×" if awake else "—", judged(r <= goal) if awake else "info",
                            numbers if not rows else {}))
        idle = f"idle vCPUs {fmt_us(p99[(store, False)])} vs {fmt_us(p99[('floor', False)])}"
        rows.append(Row("round trip", f"p99, {label}, vCPUs kept awake ({idle})", fmt_us(p99[(store, True)]),
                        f"FUSE floor {fmt_us(p99[('floor', True)])}",
                        f"{p99[(store, True)] / p99[('floor', True)]:.2f}×", "—", "info"))
    rows.append(Row("round trip", "p50, store on disk, vs a named pipe to `cat`, vCPUs kept awake",
                    fmt_us(p50[("disk", True)]), f"pipe {fmt_us(p50[('pipe', True)])}",
                    f"{p50[('disk', True)] / p50[('pipe', True)]:.1f}×", "—", "info"))
    # The daemon rows are judged on the idle blocks: the spinners change how the scheduler
    # places and preempts the daemon's threads (aifs's context switches per round trip rose
    # from 8 to 16 with them, 4.7 of them nonvoluntary), which is the benchmark's doing.
    for awake in (False, True):
        (cpu_m, sw_m, nv_m), (cpu_f, sw_f, nv_f) = per[("memory", awake)], per[("floor", awake)]
        r = cpu_m / cpu_f
        rows.append(Row("daemon", f"CPU per round trip, --store memory, {WAYS[awake]}", fmt_us(cpu_m),
                        f"FUSE floor {fmt_us(cpu_f)}", f"{r:.2f}×", "—" if awake else "≤ 1.5×",
                        "info" if awake else judged(r <= 1.5)))
        r = sw_m / sw_f
        rows.append(Row("daemon", f"context switches per round trip (nonvoluntary {nv_m:.1f} vs {nv_f:.1f}), "
                        f"--store memory, {WAYS[awake]}", f"{sw_m:.1f}", f"FUSE floor {sw_f:.1f}", f"{r:.2f}×",
                        "—" if awake else "≤ 1.5×", "info" if awake else judged(r <= 1.5)))
    (cpu_d, sw_d, _), (cpu_f, sw_f, _) = per[("disk", False)], per[("floor", False)]
    rows.append(Row("daemon", "CPU · context switches per round trip, store on disk, idle vCPUs",
                    f"{fmt_us(cpu_d)} · {sw_d:.1f}", f"FUSE floor {fmt_us(cpu_f)} · {sw_f:.1f}",
                    f"{cpu_d / cpu_f:.2f}× · {sw_d / sw_f:.2f}×", "—", "info"))
    rows += history_rows
    for store in ("disk", "memory"):
        one, many = tp[store]
        r = many / one
        label = "store on disk" if store == "disk" else "--store memory"
        rows.append(Row("throughput", f"round trips/s, 16 clients on 16 sockets, {label}", f"{many:,.0f}/s",
                        f"1 client {one:,.0f}/s", f"{r:.2f}×", "≥ 1.5×", judged(r >= 1.5)))
    r = rate[("disk", True)] / rate[("memory", True)]
    rows.append(Row("durability", "round trips/s, one client: store on disk vs in memory, vCPUs kept awake",
                    f"{rate[('disk', True)]:,.0f}/s", f"memory {rate[('memory', True)]:,.0f}/s", f"{r:.2f}×",
                    "≥ 0.67×", judged(r >= 0.67)))
    r = tp["disk"][1] / tp["memory"][1]
    rows.append(Row("durability", "round trips/s, 16 clients: store on disk vs in memory", f"{tp['disk'][1]:,.0f}/s",
                    f"memory {tp['memory'][1]:,.0f}/s", f"{r:.2f}×", "≥ 0.67×", judged(r >= 0.67)))
    for m in (disk, memory, floor):
        m.stop()
    spinners.stop()
    return rows
