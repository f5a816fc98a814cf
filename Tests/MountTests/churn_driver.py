#!/usr/bin/env python3
"""The churn of AbuseLoadTests.churn: one process makes and removes a socket as fast as it can while
this one does round trips on an unrelated socket.

    python3 churn_driver.py MOUNTPOINT DAEMON_PID SECONDS [--churn-uid UID] [--churners N]

First it measures the round trip alone (the baseline, same run), then beside the churner for
SECONDS, sampling the daemon's RSS. After the churner stops it waits for the daemon to be idle:
`/ai/ctl`'s `store-backlog` at 0 and the daemon's CPU clock no longer moving across two
round trips of the quiet socket. With --churn-uid the churner runs as that uid (the driver is
root) against the first uid's socket; with --churners N, N such processes churn at once. Prints figures, then `RESULT {json}`.
"""
import json, os, sys, time

M, DAEMON, SECONDS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
CHURN_UID = int(sys.argv[sys.argv.index("--churn-uid") + 1]) if "--churn-uid" in sys.argv else None
CHURNERS = int(sys.argv[sys.argv.index("--churners") + 1]) if "--churners" in sys.argv else 1
QUIET = f"{M}/quiet"


def status(field):
    with open(f"/proc/{DAEMON}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_ticks():
    with open(f"/proc/{DAEMON}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def round_trip(n):
    start = time.monotonic()
    fd = os.open(f"{QUIET}/input", os.O_WRONLY)
    os.write(fd, f"quiet {n}\n".encode())
    os.close(fd)
    fd = os.open(f"{QUIET}/output", os.O_RDONLY)
    reply = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        reply += chunk
    os.close(fd)
    assert f"quiet {n}".encode() in reply, reply
    return time.monotonic() - start


def p99(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def churn(deadline, ready_fd):
    """The churner (a child process): mkdir/rmdir of one name until the deadline."""
    if CHURN_UID is not None:
        os.setgroups([])
        os.setgid(CHURN_UID)
        os.setuid(CHURN_UID)
    os.write(ready_fd, b"x")
    pairs, errors = 0, {}
    path = f"{M}/churn-{os.getpid()}"
    while time.monotonic() < deadline:
        for op in (os.mkdir, os.rmdir):
            try:
                op(path)
            except OSError as e:
                errors[e.strerror] = errors.get(e.strerror, 0) + 1
        pairs += 1
    print(f"churner: {pairs} mkdir/rmdir pairs, errors {errors}", flush=True)
    os._exit(0 if pairs > 0 and not errors else 1)


def backlog():
    with open(f"{M}/ctl") as f:
        for line in f:
            if line.startswith("store-backlog:"):
                return int(line.split()[1])
    raise SystemExit("no store-backlog line in /ai/ctl")


os.mkdir(QUIET)
for i in range(20):  # warm the socket and the daemon
    round_trip(i)
rss_start = status("VmRSS")
base_until = time.monotonic() + 3
alone = []
while time.monotonic() < base_until:
    alone.append(round_trip(len(alone)))

read_fd, ready_fd = os.pipe()
deadline = time.monotonic() + SECONDS
children = []
for _ in range(CHURNERS):
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        churn(deadline, ready_fd)
    children.append(child)
os.close(ready_fd)
for _ in range(CHURNERS):
    os.read(read_fd, 1)  # every churner is running
busy, rss_max = [], rss_start
while time.monotonic() < deadline:
    busy.append(round_trip(100000 + len(busy)))
    rss_max = max(rss_max, status("VmRSS"))
churn_status = 0
for child in children:
    churn_status |= os.waitpid(child, 0)[1]
stopped = time.monotonic()
rss_max = max(rss_max, status("VmRSS"))

# Idle: nothing left for the store, and the daemon's CPU clock still across two round trips.
# The bound only ends a daemon that never settles (the test then fails on idle_after_s).
n = 0
while time.monotonic() - stopped < 120:
    before = cpu_ticks()
    round_trip(900000 + n)
    round_trip(900001 + n)
    n += 2
    if backlog() == 0 and cpu_ticks() - before <= 1:
        break
idle_after = time.monotonic() - stopped

result = {
    "alone_p99_ms": p99(alone) * 1000, "alone_n": len(alone),
    "churn_p99_ms": p99(busy) * 1000, "churn_max_ms": max(busy) * 1000, "churn_n": len(busy),
    "rss_start_mib": rss_start / 1024, "rss_max_mib": rss_max / 1024, "rss_end_mib": status("VmRSS") / 1024,
    "idle_after_s": idle_after, "churner_ok": churn_status == 0,
}
print(f"round trip p99 alone {result['alone_p99_ms']:.2f} ms ({len(alone)}), beside the churn "
      f"{result['churn_p99_ms']:.2f} ms (max {result['churn_max_ms']:.1f} ms, {len(busy)}); RSS "
      f"{result['rss_start_mib']:.1f} -> max {result['rss_max_mib']:.1f} MiB; idle {idle_after:.2f} s after the churn")
print("RESULT " + json.dumps(result))
