"""wait_exit.py PID SECONDS: returns once process PID has ended (a zombie counts as ended),
waiting on its pidfd, which becomes readable when it exits (no polling). Prints
"pid PID ended within T s" (T to a tenth of a second) and exits 0, or prints "pid PID still
running after SECONDS s" and exits 1. A PID that no longer exists has ended.

wait_exit.py --sid SID SECONDS: the same for every process of session SID (a sandbox and
what it started): waits on the pidfds of all of them, then looks again for any started
meanwhile. Prints "session SID ended within T s", or "session SID still has N processes after
SECONDS s" and exits 1. SECONDS bounds a failure only."""
import os
import select
import sys
import time


def session_members(sid):
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = open(f"/proc/{name}/stat").read()
        except OSError:
            continue
        # The fields after the command's closing parenthesis: state, ppid, pgrp, session, …
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(name))
    return members


def pidfds(pids):
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            pass
    return fds


def format_took(start):
    took = time.monotonic() - start
    return f"{max(0.1, -(-took * 10 // 1) / 10):.1f}"


start = time.monotonic()
if sys.argv[1] == "--sid":
    sid, limit = int(sys.argv[2]), float(sys.argv[3])
    while True:
        fds = pidfds(session_members(sid))
        if not fds:
            break
        left = limit - (time.monotonic() - start)
        # Each pidfd becomes readable when its process ends; wait for all of them.
        while fds and left > 0:
            ready = select.select(fds, [], [], left)[0]
            for fd in ready:
                fds.remove(fd)
                os.close(fd)
            left = limit - (time.monotonic() - start)
        if fds:
            print(f"session {sid} still has {len(fds)} processes after {sys.argv[3]} s")
            sys.exit(1)
    print(f"session {sid} ended within {format_took(start)} s")
    sys.exit(0)

pid, limit = int(sys.argv[1]), float(sys.argv[2])
try:
    fd = os.pidfd_open(pid)
except ProcessLookupError:
    fd = None
if fd is not None and not select.select([fd], [], [], limit)[0]:
    print(f"pid {pid} still running after {sys.argv[2]} s")
    sys.exit(1)
print(f"pid {pid} ended within {format_took(start)} s")
