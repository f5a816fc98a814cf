"""Case `parked readers` of bench.py: does a crowd of blocked readers slow other requests?

A fresh aifs (store on disk) whose default model is the fake server's `stall` (a request that
stays in flight), 1,000 sockets, one message written to each. Then `stat` of another socket's
`output` (attribute timeout 0, so every stat is a GETATTR that reaches the daemon) in five
pairs of blocks of 1,000: with no reader, then with 1,000 readers blocked in `read` of the
1,000 outputs (one helper process, one thread per reader, killed after the block, which
interrupts their reads). The figures are the p99 of all blocks of each kind; the ratio is
the median over the five pairs of p99(readers) / p99(none), so that one burst of load from
elsewhere, which lands in one block, decides neither way.
"""
import os, signal, subprocess, sys, time
from bench_common import CLEANUP, Row, aifs_mount, fmt_us, judged, median, percentile
from case_streaming import config, start_server

READERS = 1000

HELPER = r"""
import os, sys, threading
threading.stack_size(256 * 1024)
paths = sys.argv[1:]
opened = threading.Semaphore(0)
def read(path):
    fd = os.open(path, os.O_RDONLY)
    opened.release()
    os.read(fd, 65536)
    print("returned", path, flush=True)
for p in paths:
    threading.Thread(target=read, args=(p,), daemon=True).start()
for _ in paths:
    opened.acquire()
print("ready", flush=True)
threading.Event().wait()
"""


def stats(path, count):
    out = []
    for _ in range(count):
        t = time.perf_counter()
        os.stat(path)
        out.append(time.perf_counter() - t)
    return out


def with_readers(socks, measure):
    """Runs `measure` while one blocked reader per socket waits in read(); then kills them."""
    helper = subprocess.Popen([sys.executable, "-c", HELPER] + [os.path.join(s, "output") for s in socks],
                              stdout=subprocess.PIPE, text=True)
    CLEANUP.append(lambda: (helper.kill(), helper.wait()))
    if helper.stdout.readline().strip() != "ready":
        raise RuntimeError("the reader helper did not start")
    time.sleep(1)  # every thread is now in read()
    result = measure()
    helper.send_signal(signal.SIGKILL)
    rest = helper.stdout.read()
    helper.wait()
    if "returned" in rest:
        raise RuntimeError("a reader returned while it should have been parked: " + rest.splitlines()[0])
    return result


def run(aifs, work, quick=False):
    readers = 100 if quick else READERS
    server, port = start_server(work)
    daemon = aifs_mount(aifs, work, "parked", "disk", config(port, default=True))
    socks = [os.path.join(daemon.mnt, f"p{i}") for i in range(readers)]
    for s in socks:
        os.mkdir(s)
        with open(os.path.join(s, "input"), "w") as f:
            f.write("stall\n")
    probe = os.path.join(daemon.mnt, "probe")
    os.mkdir(probe)
    target = os.path.join(probe, "output")
    stats(target, 500)  # warm-up
    none, parked, ratios = [], [], []
    for _ in range(2 if quick else 5):  # alternate, so that load from elsewhere hits both alike
        a = stats(target, 1000)
        b = with_readers(socks, lambda: stats(target, 1000))
        none += a
        parked += b
        ratios.append(percentile(b, 99) / percentile(a, 99))
        time.sleep(1)  # the interrupted reads are answered and released
    daemon.stop()
    server.kill()
    base = percentile(none, 99)
    p99 = percentile(parked, 99)
    ratio = median(ratios)
    numbers = {"readers": readers, "samples": {"none": len(none), "parked": len(parked)}, "ratio_per_pair": ratios,
               "p50_s": {"none": percentile(none, 50), "parked": percentile(parked, 50)},
               "p99_s": {"none": base, "parked": p99}}
    return [Row("parked readers", f"`stat` p99 with {readers:,} parked readers (p50 {fmt_us(numbers['p50_s']['parked'])} vs "
                f"{fmt_us(numbers['p50_s']['none'])})",
                fmt_us(p99), f"none {fmt_us(base)}", f"{ratio:.2f}×", "≤ 2×", judged(ratio <= 2), numbers)]
