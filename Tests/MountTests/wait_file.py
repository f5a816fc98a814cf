"""Waits for a regular file (outside the mount) to change, as an event instead of a sleep:
inotify tells when to look again, so nothing polls.

    python3 wait_file.py line FILE REGEX [SECONDS]   until a line of FILE matches REGEX
    python3 wait_file.py exists GLOB [SECONDS]       until a path matches GLOB (its directory exists)

Exits 0 at once if it already holds. Exits 1 after SECONDS (default 120; a bound on a failure
only, never the expected path), saying what it waited for. For files a background process
writes: a `tail -f` of the mount, `redis-cli SUBSCRIBE`, a program's marker file. (Files of
the mount itself change without inotify events; wait on those with a read that blocks, or a
loop.)"""
import ctypes, glob, os, re, select, sys, time

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
libc = ctypes.CDLL(None, use_errno=True)
mode, target = sys.argv[1], sys.argv[2]
if mode == "line":
    pattern = re.compile(sys.argv[3])
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 120
    watched = [os.path.dirname(os.path.abspath(target))]

    def holds():
        try:
            with open(target, errors="replace") as f:
                return any(pattern.search(line) for line in f)
        except FileNotFoundError:
            return False
elif mode == "exists":
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 120
    watched = sorted(set(glob.glob(os.path.dirname(target)))) or [os.path.dirname(os.path.dirname(target))]

    def holds():
        return bool(glob.glob(target))
else:
    sys.exit(f"wait_file.py: unknown mode {mode!r} (line or exists)")

fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
if fd < 0:
    sys.exit(f"wait_file.py: inotify_init1: {os.strerror(ctypes.get_errno())}")
for directory in watched:
    # The directory: a file written, closed, created or renamed into it wakes the wait.
    libc.inotify_add_watch(fd, directory.encode(), IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
deadline = time.monotonic() + limit
while not holds():
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([fd], [], [], left)[0]:
        print(f"wait_file.py: {mode} {' '.join(sys.argv[2:4])}: not within {limit:g} s", file=sys.stderr)
        sys.exit(1)
    try:
        os.read(fd, 65536)  # the events only say "look again"
    except BlockingIOError:
        pass
