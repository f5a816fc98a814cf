"""Case `broadcast` of bench.py: 1,000 echo sockets on a fresh aifs (store on disk).

Baseline: 1,000 sequential round trips, one per socket (write `input`, read `output` to EOF).
aifs: one write to `team-chat-all/input`, then `team-chat-all/output` read to EOF, which must
hold one `[team-chat-from-NAME]` block per socket. Goal: the broadcast takes at most half the
time of the sequential round trips. Builds without team chat report the row as not available.
"""
import os, time
from bench_common import Row, aifs_mount, fmt_ms, judged, median, round_trip

SOCKETS = 1000
MESSAGE = b"x" * 63 + b"\n"


def broadcast(mnt):
    t = time.perf_counter()
    fd = os.open(os.path.join(mnt, "team-chat-all", "input"), os.O_WRONLY)
    os.write(fd, MESSAGE)
    os.close(fd)
    data = bytearray()
    fd = os.open(os.path.join(mnt, "team-chat-all", "output"), os.O_RDONLY)
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return time.perf_counter() - t, data.count(b"[team-chat-from-")


def run(aifs, work, quick=False):
    count = 100 if quick else SOCKETS
    daemon = aifs_mount(aifs, work, "broadcast", "disk")
    try:
        if not os.path.exists(os.path.join(daemon.mnt, "team-chat-all", "input")):
            return [Row("broadcast", f"{count:,} echo sockets, one broadcast collected", "—", "—", "—", "≤ 0.5×",
                        "not available (team chat not built)")]
        socks = [os.path.join(daemon.mnt, f"b{i}") for i in range(count)]
        for s in socks:
            os.mkdir(s)
        reps = 1 if quick else 3
        seq, bc = [], []
        broadcast(daemon.mnt)  # warm-up
        for _ in range(reps):
            t = time.perf_counter()
            for s in socks:
                round_trip(os.path.join(s, "input"), os.path.join(s, "output"), MESSAGE)
            seq.append(time.perf_counter() - t)
            seconds, blocks = broadcast(daemon.mnt)
            if blocks != count:
                raise RuntimeError(f"broadcast output has {blocks} replies, expected {count}")
            bc.append(seconds)
        r = median(bc) / median(seq)
        return [Row("broadcast", f"{count:,} echo sockets, one broadcast collected", fmt_ms(median(bc)),
                    f"{count:,} sequential round trips {fmt_ms(median(seq))}", f"{r:.2f}×", "≤ 0.5×", judged(r <= 0.5),
                    {"broadcast_s": bc, "sequential_s": seq})]
    finally:
        daemon.stop()
