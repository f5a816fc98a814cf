"""What the benchmarks share: the release binary, percentiles, mounts that always come down,
spinners that keep the vCPUs awake, a daemon's CPU time and context switches, and the rows of
the result table.

Every mount made here is a foreground daemon started by us (its pid is ours), registered in
`CLEANUP`, and taken down by `cleanup()`: SIGTERM, then SIGKILL, then a lazy unmount if the
mountpoint is still there. The spinners are registered the same way (SIGKILL), and the kernel
kills them too if bench.py dies without cleaning up. bench.py runs `cleanup()` in a `finally`
and on SIGTERM/SIGINT.
"""
import ctypes, os, signal, subprocess, sys, time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLEANUP = []  # callables, run last-in first-out by cleanup()


def aifs_binary():
    """The release `aifs`: $AIFS_BIN if set (./mount --bench builds it first), else built here."""
    if os.environ.get("AIFS_BIN"):
        return os.environ["AIFS_BIN"]
    out = subprocess.run(["swift", "build", "-c", "release", "--product", "aifs"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit("build failed:\n" + out.stderr)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(path, "aifs")


def percentile(values, p):
    """The p-th percentile, interpolated between the two nearest ranks."""
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(values) - 1)
    return values[f] + (values[c] - values[f]) * (k - f)


def median(values):
    return percentile(values, 50)


def cleanup():
    while CLEANUP:
        try:
            CLEANUP.pop()()
        except Exception as error:  # keep taking the rest down
            print(f"cleanup: {error}", file=sys.stderr)


def lazy_unmount(path):
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", path], stderr=subprocess.DEVNULL)


def wait_for_mount(path, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before mounting {path}")
        if os.path.ismount(path):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{path} was not mounted within {seconds} s")


class Daemon:
    """A foreground process that serves a mount (aifs or the FUSE floor) at `mnt`."""

    def __init__(self, argv, mnt, log, env=None):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        CLEANUP.append(self.stop)
        wait_for_mount(mnt, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        lazy_unmount(self.mnt)


def aifs_mount(aifs, work, name, store="disk", config=""):
    """Starts `aifs mount DIR -f` on WORK/NAME with its own config file (echo models only unless
    `config` adds providers) and store: "disk" (a fresh SQLite file in WORK) or "memory".
    The daemon sees no AIFS_* variables and no user config, so it is a fresh, default aifs."""
    mnt = os.path.join(work, name)
    cfg = os.path.join(work, name + ".toml")
    with open(cfg, "w") as f:
        f.write(config)
    store_arg = "memory" if store == "memory" else os.path.join(work, name + "-store", "aifs.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFS_")}
    env["XDG_CONFIG_HOME"] = os.path.join(work, "xdg-config")
    env["XDG_DATA_HOME"] = os.path.join(work, "xdg-data")
    log = open(os.path.join(work, name + ".log"), "w")
    daemon = Daemon([aifs, "mount", mnt, "-f", "--config", cfg, "--store", store_arg], mnt, log, env)
    daemon.store = store_arg
    return daemon


def floor_mount(work, name="floor", directories=0):
    """Compiles Benchmarks/floor/fusefloor.c (once per run) and mounts it on WORK/NAME, with
    `directories` empty directories besides `in` and `out`."""
    source = os.path.join(ROOT, "Benchmarks", "floor", "fusefloor.c")
    binary = os.path.join(work, "fusefloor")
    if not os.path.exists(binary):
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                               text=True, check=True).stdout.split()
        subprocess.run(["gcc", "-O2", "-Wall", "-o", binary, source] + flags, check=True)
    log = open(os.path.join(work, name + ".log"), "w")
    return Daemon([binary, os.path.join(work, name), str(directories)], os.path.join(work, name), log)


def _die_with_parent():
    """In a child before exec: SIGKILL it when bench.py's process ends, however it ends."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Spinners:
    """One busy loop per CPU (`chrt -i 0 taskset -c N sh -c 'while :; do :; done'`), so that no
    vCPU is halted when a request arrives: on a virtual machine, a request that wakes a halted
    vCPU pays the hypervisor's wake-up, which then decides the figure (the FUSE floor's round
    trip measured 60 µs to 330 µs from run to run with idle vCPUs). SCHED_IDLE priority: a
    spinner runs only when nothing else wants its CPU, so it yields to every real thread.

    They are stopped (SIGSTOP) except while `awake(True)`; killed by cleanup() (and by the
    kernel, PR_SET_PDEATHSIG, should bench.py die without cleaning up)."""

    def __init__(self):
        self.procs, self.on = [], True
        CLEANUP.append(self.stop)
        for cpu in sorted(os.sched_getaffinity(0)):
            self.procs.append(subprocess.Popen(
                ["chrt", "-i", "0", "taskset", "-c", str(cpu), "sh", "-c", "while :; do :; done"],
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent))
        self.awake(False)

    def awake(self, on):
        if on == self.on:
            return
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"spinner {p.pid} exited with {p.returncode}")
            p.send_signal(signal.SIGCONT if on else signal.SIGSTOP)
        self.on = on
        time.sleep(0.02)  # let the spinners reach (or leave) their CPUs

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []


def thread_counters(pid):
    """{tid: (CPU ns, voluntary, nonvoluntary context switches)} for every thread of `pid` now:
    the CPU time is the first field of /proc/PID/task/TID/schedstat (nanoseconds on the CPU),
    the switches come from its status (/proc/PID/status alone counts the main thread)."""
    counters = {}
    task = f"/proc/{pid}/task"
    for tid in os.listdir(task):
        try:
            with open(f"{task}/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            switches = {}
            with open(f"{task}/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        key, value = line.split(":")
                        switches[key] = int(value)
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread exited meanwhile
        counters[tid] = (ns, switches["voluntary_ctxt_switches"], switches["nonvoluntary_ctxt_switches"])
    return counters


def process_cpu_ticks(pid):
    """utime + stime of the whole process (threads that exited included), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Usage:
    """A daemon's CPU time and context switches, summed over timed blocks: `begin()` before a
    block, `end(n)` after its n operations. Threads new in a block count from zero; a thread
    that exits within a block loses its part of the block (counted in `lost_threads`). The
    process-wide utime+stime (clock ticks, exited threads included) is kept as a cross-check.
    Nonvoluntary switches are kept apart too: a thread that calls sched_yield() switches
    (nonvoluntarily) only if something else is runnable on its CPU, a spinner for instance."""

    def __init__(self, pid):
        self.pid, self.ops, self.cpu_ns, self.voluntary, self.nonvoluntary = pid, 0, 0, 0, 0
        self.lost_threads, self.ticks = 0, 0

    def begin(self):
        self._ticks = process_cpu_ticks(self.pid)
        self._before = thread_counters(self.pid)

    def end(self, ops):
        after = thread_counters(self.pid)
        self.ticks += process_cpu_ticks(self.pid) - self._ticks
        for tid, (ns, vol, nonvol) in after.items():
            ns0, vol0, nonvol0 = self._before.get(tid, (0, 0, 0))
            self.cpu_ns += ns - ns0
            self.voluntary += vol - vol0
            self.nonvoluntary += nonvol - nonvol0
        self.lost_threads += len(set(self._before) - set(after))
        self.ops += ops

    def per_op(self):
        """(CPU seconds, context switches, of which nonvoluntary) per operation."""
        return (self.cpu_ns / 1e9 / self.ops, (self.voluntary + self.nonvoluntary) / self.ops,
                self.nonvoluntary / self.ops)

    def numbers(self):
        hz = os.sysconf("SC_CLK_TCK")
        return {"ops": self.ops, "cpu_s": self.cpu_ns / 1e9, "context_switches": self.voluntary + self.nonvoluntary,
                "nonvoluntary": self.nonvoluntary, "lost_threads": self.lost_threads,
                "cpu_s_process_ticks": self.ticks / hz}


def tmpfs_mount(path):
    """A fresh tmpfs at `path` (unmounted by cleanup())."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "benchtmpfs", path], check=True)
    CLEANUP.append(lambda: lazy_unmount(path))


def round_trip(inp, out, message):
    """One exchange: open `inp`, write, close (aifs: close() waits for the commit), then read
    `out` to EOF. Returns the number of bytes read."""
    fd = os.open(inp, os.O_WRONLY)
    os.write(fd, message)
    os.close(fd)
    fd = os.open(out, os.O_RDONLY)
    got = 0
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += len(chunk)
    os.close(fd)
    return got


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    """nproc, kernel, CPU model, memory and the load average now."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "kernel": os.uname().release, "cpu": cpu,
            "memory_gib": round(mem_kib / 1024 / 1024, 1), "loadavg_start": loadavg()}


@dataclass
class Row:
    """One line of the table. `ratio` is aifs/baseline (or the figure the goal is about);
    `verdict` is pass, short, info (no goal) or a reason the case could not run."""
    case: str
    measure: str
    aifs: str
    baseline: str
    ratio: str
    goal: str
    verdict: str
    numbers: dict = field(default_factory=dict)


def judged(ok):
    return "pass" if ok else "short"


def fmt_ms(seconds):
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def fmt_us(seconds):
    return f"{seconds * 1e6:.0f} µs"
