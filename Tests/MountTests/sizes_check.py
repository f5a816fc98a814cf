#!/usr/bin/env python3
"""Sizes a request names are refused before anything is allocated (AbuseTests).

    python3 sizes_check.py MOUNTPOINT DAEMON_PID

truncate(2), ftruncate(2) and posix_fallocate(3) to 4 GiB, 1 TiB and 2^62 on every writable
file kind, and pwrite(2) at those offsets where a write's offset counts: `prompt` and a scratch file answer EFBIG, the streams (input, ctl, chat, /ai/ctl,
the team chat's input and ctl) EINVAL. Each answer's time (the fastest of three tries), the daemon's CPU time for them all and the daemon's VmHWM before and
after are printed; then sizes within the limits, which must work as on a regular file. Prints
`ok`/`FAIL` lines and a last line `RESULT {json}`.
"""
import errno, json, os, sys, time

M, PID = sys.argv[1], int(sys.argv[2])


def hwm_kib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


def cpu_ticks():
    """The daemon's CPU time (utime + stime), in clock ticks."""
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def attempt(how, path, size):
    try:
        if how == "truncate":
            os.truncate(path, size)
            return "ok"
        fd = os.open(path, os.O_WRONLY)
        try:
            if how == "ftruncate":
                os.ftruncate(fd, size)
            elif how == "pwrite":
                os.pwrite(fd, b"x", size)
            else:
                os.posix_fallocate(fd, 0, size)
        finally:
            try:
                os.close(fd)
            except OSError:
                pass  # a stream's close may report its own refusal; the size was the question
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]


os.mkdir(f"{M}/p")
with open(f"{M}/p/input", "w") as f:
    f.write("warm\n")
with open(f"{M}/p/output") as f:
    f.read()
os.close(os.open(f"{M}/p/draft.tmp", os.O_CREAT | os.O_WRONLY, 0o644))
kinds = {"p/prompt": "EFBIG", "p/draft.tmp": "EFBIG", "p/input": "EINVAL", "p/ctl": "EINVAL",
         "p/chat": "EINVAL", "ctl": "EINVAL", "team-chat-all/input": "EINVAL", "team-chat-all/ctl": "EINVAL"}
failures, slowest, checks, calls = 0, 0.0, 0, 0
before, cpu_before = hwm_kib(), cpu_ticks()
for name, wanted in kinds.items():
    for size in (4 << 30, 1 << 40, 1 << 62):
        # A write's offset is a size too, on the files that keep their bytes (a stream's
        # write ignores its offset).
        for how in ("truncate", "ftruncate", "fallocate") + (("pwrite",) if wanted == "EFBIG" else ()):
            # The fastest of three tries: a busy machine may preempt one call for a while, but
            # an answer that allocated first (17 s for 4 GiB before) is slow every time.
            took = float("inf")
            for _ in range(3):
                start = time.monotonic()
                got = attempt(how, f"{M}/{name}", size)
                calls += 1
                took = min(took, (time.monotonic() - start) * 1000)
            slowest = max(slowest, took)
            checks += 1
            ok = got == wanted
            failures += not ok
            print(f"{'ok' if ok else 'FAIL'} {how} {name} {size}: {got} (wanted {wanted}) in {took:.2f} ms")
grew = hwm_kib() - before
daemon_cpu_ms = (cpu_ticks() - cpu_before) * 1000 / os.sysconf("SC_CLK_TCK")

# Within the limits they work as on a regular file.
def expect(label, cond):
    global failures, checks
    checks += 1
    failures += not cond
    print(f"{'ok' if cond else 'FAIL'} {label}")

with open(f"{M}/p/prompt", "w") as f:
    f.write("be brief")
os.truncate(f"{M}/p/prompt", 2)
expect("truncate prompt to 2 bytes", open(f"{M}/p/prompt").read() == "be")
fd = os.open(f"{M}/p/prompt", os.O_WRONLY)
os.posix_fallocate(fd, 0, 10)
os.close(fd)
expect("fallocate extends prompt with zeros to 10 bytes", open(f"{M}/p/prompt", "rb").read() == b"be" + bytes(8))
fd = os.open(f"{M}/p/draft.tmp", os.O_WRONLY)
os.posix_fallocate(fd, 0, 100)
os.close(fd)
expect("fallocate a scratch file to 100 bytes", os.stat(f"{M}/p/draft.tmp").st_size == 100)
with open(f"{M}/p/input", "w") as f:  # O_TRUNC on a stream still works
    f.write("still here\n")
expect("input answers after the refusals", "still here" in open(f"{M}/p/output").read())
expect("error says why the prompt was refused", "EFBIG" in open(f"{M}/p/error").read())
print("RESULT " + json.dumps({"checks": checks, "failures": failures, "slowest_ms": slowest, "hwm_growth_kib": grew,
                              "daemon_cpu_ms": daemon_cpu_ms, "calls": calls}))
