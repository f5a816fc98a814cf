#!/usr/bin/env python3
"""The load of ClusterLoadTests: messages FIRST .. FIRST+COUNT-1 written through MOUNT to the
sockets s000 .. s(SOCKETS-1) (message n goes to socket n % SOCKETS, its text
"message number n to sNNN"), by WORKERS processes in parallel, each opening, writing and closing
`input` once per message (every close() acknowledged: the message is in the Redis log). Prints
one line: `sent N in S s: R msg/s`.

    python3 cluster_load_driver.py MOUNT FIRST COUNT SOCKETS WORKERS
"""
import multiprocessing, os, sys, time

M, FIRST, COUNT, SOCKETS, WORKERS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])


def work(k):
    sent = 0
    for n in range(FIRST + k, FIRST + COUNT, WORKERS):
        name = "s%03d" % (n % SOCKETS)
        fd = os.open(f"{M}/{name}/input", os.O_WRONLY)
        try:
            os.write(fd, b"message number %d to %s\n" % (n, name.encode()))
        finally:
            os.close(fd)
        sent += 1
    return sent


if __name__ == "__main__":
    start = time.monotonic()
    with multiprocessing.Pool(WORKERS) as pool:
        total = sum(pool.map(work, range(WORKERS)))
    took = time.monotonic() - start
    print(f"sent {total} in {took:.1f} s: {total / took:.0f} msg/s", flush=True)
