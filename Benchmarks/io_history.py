"""The history rows of the `io` case: does a socket that holds a long conversation answer as
fast as a new one, and how much daemon memory does each exchange it holds take?

A socket's history is built untimed by pipelining: this process writes the messages to
`input` (open, write, close each: close() returns once the message is committed), while a
forked reader drains `output`; the writer stays at most 500 messages ahead of the reader (a
socket refuses input at 1,000 unanswered). The daemon's VmRSS before and after the build
gives the memory per exchange held. Then the round-trip p50 on that socket is compared with
new sockets in alternating blocks of 200 (five pairs), with the vCPUs kept awake.

Building has a time limit: when a daemon's cost per message grows with the history, the
build stops where the limit is reached and the row says how many exchanges it holds. And a
size is not built at all when the one before already missed by more than twice its goal.
"""
import multiprocessing, os, time
from bench_common import Row, fmt_us, judged, percentile, round_trip

AHEAD = 500  # messages written but not yet read back, at most
SKIP = 2     # see run()


def _drain(out, size, done, total):
    """The reader: reads `out` until `total` (set by the writer when it has finished) bytes came."""
    got = 0
    while not (total.value and got >= total.value):
        fd = os.open(out, os.O_RDONLY)
        n = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            n += len(chunk)
            got += len(chunk)
            done.value = got // size
        os.close(fd)
        if n == 0:
            time.sleep(0.001)  # nothing pending: the writer is behind


def build(sock, message, count, deadline):
    """Pipelines `count` exchanges into `sock`, stopping at `deadline` (monotonic); returns how
    many it built (all answered and read)."""
    inp, out = os.path.join(sock, "input"), os.path.join(sock, "output")
    ctx = multiprocessing.get_context("fork")
    done, total = ctx.Value("q", 0, lock=False), ctx.Value("q", 0, lock=False)
    reader = ctx.Process(target=_drain, args=(out, len(message), done, total))
    reader.start()
    written = 0
    try:
        while written < count and time.monotonic() < deadline:
            while written - done.value > AHEAD:
                time.sleep(0.0005)
            fd = os.open(inp, os.O_WRONLY)
            os.write(fd, message)
            os.close(fd)
            written += 1
        total.value = written * len(message)
        reader.join(120)
        if reader.exitcode != 0:
            raise RuntimeError(f"history reader of {sock}: exit {reader.exitcode}, {done.value} of {written} read")
    finally:
        if reader.is_alive():
            reader.kill()
            reader.join()
    return written


def compare(mnt, long_sock, message, tag, pairs=5, block=200):
    """Round-trip p50 (s) on new sockets and on `long_sock`, alternating blocks."""
    inp, out = os.path.join(long_sock, "input"), os.path.join(long_sock, "output")
    lat = {"fresh": [], "long": []}
    for i in range(pairs):
        fresh = os.path.join(mnt, f"{tag}-fresh{i}")
        os.mkdir(fresh)
        for name, (a, b) in (("fresh", (os.path.join(fresh, "input"), os.path.join(fresh, "output"))),
                             ("long", (inp, out))):
            for _ in range(block):
                t = time.perf_counter()
                round_trip(a, b, message)
                lat[name].append(time.perf_counter() - t)
    return percentile(lat["fresh"], 50), percentile(lat["long"], 50)


def run(daemons, message, spinners, sizes, limit):
    """`daemons`: {"disk": Daemon, "memory": Daemon}; `sizes`: ((size, goal), …), built one
    after the other on one socket per store, each build given `limit` seconds. Once a size
    misses by more than SKIP times the next size's goal, the next sizes are not built: the cost
    per request grows with the history, and building would only spend the limit to confirm the
    miss. Returns rows and numbers."""
    rows, rss_rows, numbers = [], [], {}
    for store, daemon in daemons.items():
        label = "store on disk" if store == "disk" else "--store memory"
        sock = os.path.join(daemon.mnt, "history")
        os.mkdir(sock)
        round_trip(os.path.join(sock, "input"), os.path.join(sock, "output"), message)
        held, rss0, building, skip = 1, daemon.rss_kib(), 0.0, None
        for size, goal in sizes:
            what = f"p50 on a socket holding {size:,} exchanges, {label}"
            if skip:
                rows.append(Row("history", f"{what} (not built: {skip[1]:.2f}× at {skip[0]:,} already)", "—", "—",
                                "—", f"≤ {goal}×", "short"))
                continue
            t = time.monotonic()
            held += build(sock, message, size - held, t + limit)
            seconds, reached, rss = time.monotonic() - t, held, daemon.rss_kib()
            building += seconds
            spinners.awake(True)
            fresh, long = compare(daemon.mnt, sock, message, f"h{size}-")
            spinners.awake(False)
            held += 5 * 200  # the timed round trips joined the history
            r = long / fresh
            if reached < size:
                what = f"p50 on a socket holding {reached:,} exchanges (of {size:,}: the {limit:.0f} s limit), {label}"
            rows.append(Row("history", what, fmt_us(long), f"new socket {fmt_us(fresh)}", f"{r:.2f}×",
                            f"≤ {goal}×", judged(r <= goal and reached >= size)))
            numbers[f"{store}_{size}"] = {"held": reached, "build_s": round(seconds, 1), "rss_kib": [rss0, rss],
                                          "p50_s": {"fresh": fresh, "long": long}}
            following = [g for s, g in sizes if s > size]
            if reached < size or (following and r > SKIP * following[0]):
                skip = (reached, r)
        per = (rss - rss0) * 1024 / (reached - 1)
        rss_rows.append(Row("history", f"daemon RSS per exchange held, {label} ({rss0:,} → {rss:,} KiB over "
                            f"{reached - 1:,} exchanges, built in {building:.0f} s)",
                            f"{per:,.0f} B", "—", "—", "—", "info"))
    return rows + rss_rows, numbers
