#!/usr/bin/env python3
"""Watch a slow reply stream in, without blocking: O_NONBLOCK + poll() on output.

    examples/stream.py [MOUNTPOINT]

Uses the offline `echo/slow` model, which streams a reply word by word.
"""
import os, select, subprocess, sys, time

ai = sys.argv[1] if len(sys.argv) > 1 else "/ai"
sock = os.path.join(ai, "streamer")
os.mkdir(sock)
try:
    with open(os.path.join(sock, "ctl"), "w") as ctl:
        ctl.write("model echo/slow\n")
    with open(os.path.join(sock, "input"), "w") as q:
        q.write("one two three four five six\n")
    fd = os.open(os.path.join(sock, "output"), os.O_RDONLY | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    start = time.monotonic()
    while True:
        poller.poll(10_000)                      # readable: data, or EOF when nothing is pending
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:                  # woken, but another reader took the bytes
            continue
        if not chunk:
            break
        print(f"{time.monotonic() - start:5.2f}s {chunk.decode()!r}", flush=True)
    os.close(fd)
finally:
    subprocess.run(["rm", "-r", sock], check=True)   # rm -r removes a socket, like any directory
