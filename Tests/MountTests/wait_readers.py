#!/usr/bin/env python3
"""Waits for readers of a mount, as an event instead of a fixed sleep.

    python3 wait_readers.py DIR N [--parked] [--timeout SECONDS]

Returns once at least N processes hold a file under DIR open (with --parked: are blocked in
read(2) on one, as /proc/PID/syscall shows), and prints "readers: N". Exits 1 after SECONDS
(default 60; a bound on a failure only, never the expected path) and says how many there were.
"""
import argparse, os, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("dir")
parser.add_argument("count", type=int)
parser.add_argument("--parked", action="store_true")
parser.add_argument("--timeout", type=float, default=60)
args = parser.parse_args()
prefix = os.path.realpath(args.dir).rstrip("/") + "/"
me = os.getpid()
READ = "63" if os.uname().machine == "aarch64" else "0"  # the read(2) syscall number


def readers():
    found = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            if args.parked:
                fields = open(f"/proc/{pid}/syscall").read().split()
                if len(fields) < 2 or fields[0] != READ:
                    continue
                fds = [str(int(fields[1], 16))]
            else:
                fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix) for fd in fds):
                found += 1
        except (OSError, ValueError):
            continue  # the process ended meanwhile, or is not ours to read
    return found


deadline = time.monotonic() + args.timeout
while True:
    n = readers()
    if n >= args.count:
        print(f"readers: {n}")
        sys.exit(0)
    if time.monotonic() > deadline:
        print(f"readers: only {n} of {args.count} after {args.timeout:.0f} s (under {prefix})")
        for pid in [p for p in os.listdir("/proc") if p.isdigit()][:2000]:  # what the readers are doing instead
            try:
                cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
                if prefix in cmd:
                    fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
                    print(f"  {pid} {cmd[:80]!r} syscall={open(f'/proc/{pid}/syscall').read().split()[:2]} fds={fds}")
            except OSError:
                pass
        sys.exit(1)
    time.sleep(0.02)
