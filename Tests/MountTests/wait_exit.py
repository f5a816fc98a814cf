"""wait_exit.py PID SECONDS: returns once process PID has ended (a zombie counts as ended),
waiting on its pidfd, which becomes readable when it exits (no polling). Prints
"pid PID ended within T s" (T to a tenth of a second) and exits 0, or prints "pid PID still
running after SECONDS s" and exits 1. A PID that no longer exists has ended."""
import os
import select
import sys
import time

pid, limit = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
try:
    fd = os.pidfd_open(pid)
except ProcessLookupError:
    fd = None
if fd is not None and not select.select([fd], [], [], limit)[0]:
    print(f"pid {pid} still running after {sys.argv[2]} s")
    sys.exit(1)
took = time.monotonic() - start
print(f"pid {pid} ended within {max(0.1, -(-took * 10 // 1) / 10):.1f} s")
