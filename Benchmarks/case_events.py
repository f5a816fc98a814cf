"""Case `events` of bench.py: what a follower on /ai/events costs a round trip.

Two aifs daemons alike (echo model, a fresh SQLite store each) are mounted at once; one has a
`tail -f` on its /ai/events (output to a file, checked at the end to hold the events of every
round trip), the other none. Their round trips (the 64-byte write, close, read of case_io) are
measured in interleaved blocks, with the vCPUs kept awake and idle as in case_io, so a burst of
load hits both alike. The row is the ratio of the two p50s (goal ≤ 1.1×, judged awake).
"""
import os, signal, subprocess
from bench_common import Row, Spinners, aifs_mount, fmt_us, judged, percentile, CLEANUP
from case_io import SocketTarget, interleaved, MESSAGE, WAYS


def follower(mnt, out_path):
    """`tail -n +1 -f MNT/events > OUT`, stopped by cleanup()."""
    out = open(out_path, "w")
    proc = subprocess.Popen(["tail", "-n", "+1", "-f", os.path.join(mnt, "events")], stdout=out,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
        out.close()
    CLEANUP.append(stop)
    return stop


def run(aifs, work, quick=False):
    spinners = Spinners()
    plain = aifs_mount(aifs, work, "ev-plain", "disk")
    followed = aifs_mount(aifs, work, "ev-followed", "disk")
    out_path = os.path.join(work, "events-follower.jsonl")
    stop = follower(followed.mnt, out_path)
    targets = {"without": SocketTarget(plain.mnt), "with": SocketTarget(followed.mnt)}
    rounds, block = (2, 100) if quick else (10, 400)
    lat = interleaved(targets, rounds, block, warmup=200, spinners=spinners, usage={})
    # The follower caught up with every round trip (tail polls about once a second).
    ends_wanted = rounds * 2 * block + 200
    for _ in range(100):
        with open(out_path) as f:
            ends = sum(1 for line in f if '"type":"request_ended"' in line)
        if ends >= ends_wanted:
            break
        subprocess.run(["sleep", "0.1"])
    stop()
    p50 = {k: percentile(v, 50) for k, v in lat.items()}
    numbers = {"p50_s": {f"{k}_{'awake' if a else 'idle'}": v for (k, a), v in p50.items()},
               "samples_per_way": len(lat[("with", True)]), "follower_request_ends": ends, "round_trips": ends_wanted}
    rows = []
    for awake in (True, False):
        r = p50[("with", awake)] / p50[("without", awake)]
        rows.append(Row("events", f"round trip p50 with a `tail -f` on /ai/events ({ends} of {ends_wanted} requests "
                        f"followed), {WAYS[awake]}", fmt_us(p50[("with", awake)]), f"without {fmt_us(p50[('without', awake)])}",
                        f"{r:.2f}×", "≤ 1.1×" if awake else "—", judged(r <= 1.1) if awake else "info",
                        numbers if not rows else {}))
    return rows
