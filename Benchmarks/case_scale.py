"""Case `scale` of bench.py: 10,000 sockets on a fresh aifs (echo model, store on disk).

  mkdir    10,000 `os.mkdir` calls in aifs against the same in a fresh tmpfs (info: no goal);
  ls -l    the `ls -l` process on the aifs root holding 10,000 sockets against `ls -l` of the
           tmpfs directory holding 10,000 directories, output to /dev/null, p50 of alternating
           runs. Each aifs run starts after the kernel's 1 s name/attribute cache expired, as for
           a user who types `ls -l` now and then. For scale (info), the same on the FUSE floor
           serving 10,000 empty directories, also after its 1 s cache expired;
  RSS      the daemon's VmRSS after the 10,000 mkdirs (and 2 s idle) minus before, per socket.
"""
import os, subprocess, time
from bench_common import Row, aifs_mount, floor_mount, fmt_ms, judged, median, tmpfs_mount

SOCKETS = 10_000


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def make(root, count):
    t = time.perf_counter()
    for i in range(count):
        os.mkdir(os.path.join(root, f"s{i:05d}"))
    return time.perf_counter() - t


def run(aifs, work, quick=False):
    count = 1000 if quick else SOCKETS
    tmp = os.path.join(work, "tmpfs")
    tmpfs_mount(tmp)
    daemon = aifs_mount(aifs, work, "scale", "disk")
    time.sleep(1)
    rss_before = daemon.rss_kib()
    mk_aifs = make(daemon.mnt, count)
    mk_tmpfs = make(tmp, count)
    time.sleep(2)
    rss_after = daemon.rss_kib()
    listing = subprocess.run(["ls", daemon.mnt], capture_output=True, text=True, check=True).stdout.split()
    made = sum(len(name) == 6 and name[0] == "s" and name[1:].isdigit() for name in listing)
    if made != count:
        raise RuntimeError(f"ls shows {made} sockets, expected {count}")
    floor = floor_mount(work, "scale-floor", count)
    runs = 3 if quick else 7
    for path in (daemon.mnt, tmp, floor.mnt):
        timed(["ls", "-l", path])  # warm-up
    cold, base, fl = [], [], []
    for _ in range(runs):
        time.sleep(1.2)  # the kernel forgets names and attributes (1 s timeouts)
        cold.append(timed(["ls", "-l", daemon.mnt]))
        fl.append(timed(["ls", "-l", floor.mnt]))
        base.append(timed(["ls", "-l", tmp]))
    daemon.stop()
    floor.stop()
    per_socket = (rss_after - rss_before) / count
    numbers = {"sockets": count, "mkdir_s": {"aifs": mk_aifs, "tmpfs": mk_tmpfs},
               "ls_l_s": {"aifs": cold, "tmpfs": base, "fuse_floor": fl},
               "rss_kib": {"before": rss_before, "after": rss_after}}
    b = median(base)
    rows = [
        Row("scale", f"mkdir {count:,} sockets", fmt_ms(mk_aifs), f"tmpfs {fmt_ms(mk_tmpfs)}",
            f"{mk_aifs / mk_tmpfs:.1f}×", "—", "info", numbers),
        Row("scale", f"`ls -l` of {count:,} sockets, p50", fmt_ms(median(cold)), f"tmpfs {fmt_ms(b)}",
            f"{median(cold) / b:.2f}×", "≤ 3×", judged(median(cold) / b <= 3)),
        Row("scale", f"`ls -l` of {count:,} entries, p50: aifs vs the FUSE floor", fmt_ms(median(cold)),
            f"FUSE floor {fmt_ms(median(fl))}", f"{median(cold) / median(fl):.2f}×", "—", "info"),
        Row("scale", f"RSS per idle socket ({rss_before:,} → {rss_after:,} KiB)", f"{per_socket:.1f} KiB", "—",
            "—", "≤ 20 KiB", judged(per_socket <= 20)),
    ]
    return rows
