#!/usr/bin/env python3
"""The bad-input table: every way a user can get it wrong, with the errno it must give and the
line that must land in an `error` file (where the daemon has one for it). Run against a mount
whose config sets `[limits] queue = 3`; prints one line per case and a summary:

    python3 bad_input_table.py MOUNTPOINT

After the table, every socket must still answer and the canary socket's data must be intact.
"""
import errno, os, sys, time

M = sys.argv[1]
results = []


def err_of(action):
    try:
        action()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    except ValueError as e:          # refused before any syscall (a NUL in a path)
        return "ValueError"


def drain(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def case(name, action, expect, error_file=None, error_text=None):
    """Runs `action`, compares its errno, and checks that `error_file` got `error_text`."""
    if error_file:
        drain(error_file)               # consume what was there before
    got = err_of(action)
    ok = got == expect
    detail = ""
    if ok and error_file:
        text = drain(error_file)
        if error_text not in text:
            ok = False
            detail = f" (error file lacks {error_text!r}: {text.strip()!r})"
    results.append(ok)
    print(("PASS" if ok else "FAIL"), f"{name}: {got}" + ("" if ok else f", expected {expect}") + detail)


def write_file(path, data, flags=os.O_WRONLY | os.O_TRUNC):
    """One open, every byte written (a short write is followed by the rest, as a shell's would
    be), one close: the first error wins."""
    def action():
        fd = os.open(path, flags)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    return action


def read_file(path, flags=os.O_RDONLY):
    def action():
        fd = os.open(path, flags)
        try:
            os.read(fd, 100)
        finally:
            os.close(fd)
    return action


def ctl(socket, line):
    return write_file(f"{M}/{socket}/ctl", line)


# --- the canary: a socket whose data must survive the whole table untouched
os.mkdir(f"{M}/canary")
write_file(f"{M}/canary/prompt", b"You are the canary.\n")()
write_file(f"{M}/canary/input", b"remember the canary\n")()
assert drain(f"{M}/canary/output") == "remember the canary\n"
canary_transcript = open(f"{M}/canary/transcript", "rb").read()
os.mkdir(f"{M}/s")
E = f"{M}/s/error"

# --- names
case("mkdir with a slash (parent missing)", lambda: os.mkdir(f"{M}/nope/x"), "ENOENT")
case("mkdir '..'", lambda: os.mkdir(f"{M}/.."), "EEXIST")
case("mkdir a dot name", lambda: os.mkdir(f"{M}/.hidden"), "EINVAL")
case("mkdir 65-byte name", lambda: os.mkdir(f"{M}/" + "x" * 65), "EINVAL")
case("mkdir 64-byte name works", lambda: (os.mkdir(f"{M}/" + "y" * 64), os.rmdir(f"{M}/" + "y" * 64)), "ok")
case("mkdir name with NUL", lambda: os.mkdir(f"{M}/a\0b"), "ValueError")
for reserved in ["ctl", "models", "memory", "snapshots", "team-chat-all"]:
    case(f"mkdir reserved '{reserved}'", lambda r=reserved: os.mkdir(f"{M}/{r}"), "EEXIST")
case("mkdir with '!'", lambda: os.mkdir(f"{M}/bad!name"), "EINVAL")
case("mkdir with invalid UTF-8", lambda: os.mkdir(os.fsencode(M) + b"/\xff\xfe"), "EINVAL")
case("mkdir existing", lambda: os.mkdir(f"{M}/s"), "EEXIST")
case("mkdir inside a socket", lambda: os.mkdir(f"{M}/s/sub"), "EPERM")
case("mkdir below a file", lambda: os.mkdir(f"{M}/s/output/x"), "ENOTDIR")

# --- ctl
case("ctl unknown command", ctl("s", b"bogus\n"), "EINVAL", E, "unknown command 'bogus'")
case("ctl bad value", ctl("s", b"set temperature 5\n"), "EINVAL", E, "temperature")
case("ctl unknown setting", ctl("s", b"set nope 1\n"), "EINVAL", E, "unknown setting 'nope'")
case("ctl unknown model", ctl("s", b"model nope/x\n"), "EINVAL", E, "unknown model 'nope/x'")
case("ctl bad state", ctl("s", b"state weird\n"), "EINVAL", E, "unknown state 'weird'")
case("ctl headers maybe", ctl("s", b"headers maybe\n"), "EINVAL", E, "usage: headers on|off")
case("ctl fork to a bad name", ctl("s", b"fork ../x\n"), "EINVAL", E, "fork:")
case("ctl wire without a name", ctl("s", b"wire\n"), "EINVAL", E, "usage: wire NAME")
case("ctl wire to a missing socket", ctl("s", b"wire missing\n"), "ENOENT", E, "wire: no socket 'missing'")
case("ctl wire to itself", ctl("s", b"wire s\n"), "ELOOP", E, "cannot be wired to itself")
case("ctl restore a missing snapshot", ctl("s", b"restore missing\n"), "ENOENT", E, "no snapshot 'missing'")
case("ctl huge line", ctl("s", b"set capabilities " + b"x" * 5000 + b"\n"), "EINVAL", E, "line longer than 4096 bytes")
case("ctl invalid UTF-8", ctl("s", b"state \xff\xfe\n"), "EINVAL", E, "not valid UTF-8")
case("ctl binary", ctl("s", bytes(range(256)) + b"\n"), "EINVAL", E, "ctl")
case("ctl one bad line refuses the write", ctl("s", b"set temperature 0.5\nbogus\n"), "EINVAL", E, "unknown command")
case("/ai/ctl garbage", write_file(f"{M}/ctl", b"explode now\n"), "EINVAL")
case("team ctl garbage", write_file(f"{M}/team-chat-all/ctl", b"mode chaos\n"), "EINVAL",
     f"{M}/team-chat-all/error", "usage: mode fanout|discuss")

# --- input and the other files
case("input over 1 MiB", write_file(f"{M}/s/input", b"x" * ((1 << 20) + 1)), "EFBIG", E, "message over")
case("input with only headers", write_file(f"{M}/s/input", b"[priority-high]"), "EINVAL", E, "headers but no content")
case("input invalid UTF-8 is kept as bytes", write_file(f"{M}/s/input", b"\xff\xfe bytes\n"), "ok")
got = open(f"{M}/s/output", "rb").read()
results.append(got == b"\xff\xfe bytes\n")
print("PASS" if results[-1] else "FAIL", f"invalid UTF-8 comes back byte for byte: {got!r}")
case("input binary with NULs", write_file(f"{M}/s/input", b"\x00\x01\x02\n"), "ok")
results.append(open(f"{M}/s/output", "rb").read() == b"\x00\x01\x02\n")
print("PASS" if results[-1] else "FAIL", "binary comes back byte for byte")
case("empty write sends nothing", write_file(f"{M}/s/input", b""), "ok")
results.append(drain(f"{M}/s/output") == "")
print("PASS" if results[-1] else "FAIL", "nothing was queued by the empty write")
case("write to output", read_file(f"{M}/s/output", os.O_WRONLY), "EACCES")
case("write to error", read_file(f"{M}/s/error", os.O_WRONLY), "EACCES")
case("write to transcript", read_file(f"{M}/s/transcript", os.O_WRONLY), "EACCES")
case("write to context", read_file(f"{M}/s/context", os.O_WRONLY), "EACCES")
case("read from input", read_file(f"{M}/s/input"), "EACCES")
case("open input read-write", read_file(f"{M}/s/input", os.O_RDWR), "EACCES")
case("write to /ai/models", read_file(f"{M}/models", os.O_WRONLY), "EACCES")
case("write to a search result", read_file(f"{M}/memory/search/x", os.O_WRONLY), "EACCES")
case("prompt over 1 MiB", write_file(f"{M}/s/prompt", b"p" * ((1 << 20) + 1)), "EFBIG", E, "prompt over")
for name, expect in [("input", "ok"), ("output", "EPERM"), ("error", "EPERM"), ("ctl", "ok"), ("prompt", "ok"),
                     ("transcript", "EPERM"), ("chat", "ok"), ("context", "EPERM")]:
    case(f"truncate {name}", lambda n=name: os.truncate(f"{M}/s/{n}", 0), expect)
case("truncate /ai/models", lambda: os.truncate(f"{M}/models", 0), "EPERM")
case("setxattr", lambda: os.setxattr(f"{M}/s/input", "user.x", b"1"), "ENOTSUP")
case("ln (hard link)", lambda: os.link(f"{M}/s/input", f"{M}/s/x"), "EPERM")
case("symlink", lambda: os.symlink("/etc/passwd", f"{M}/s/x"), "EPERM")
case("mknod", lambda: os.mknod(f"{M}/s/x"), "EPERM")
case("mkfifo in the root", lambda: os.mkfifo(f"{M}/fifo"), "EPERM")
case("create a file in the root", lambda: os.open(f"{M}/new", os.O_CREAT | os.O_WRONLY), "EPERM")
# In a socket, creating makes a scratch file (for sed -i and editors); what it may not do:
case("scratch file over prompt_bytes", write_file(f"{M}/s/big.tmp", b"p" * ((1 << 20) + 1), os.O_CREAT | os.O_WRONLY), "EFBIG")
case("mv a scratch file onto input", lambda: os.rename(f"{M}/s/big.tmp", f"{M}/s/input"), "EPERM")
case("mv a scratch file out of its socket", lambda: os.rename(f"{M}/s/big.tmp", f"{M}/canary/big.tmp"), "EXDEV")
case("mv a socket's own file", lambda: os.rename(f"{M}/s/prompt", f"{M}/s/p2"), "EPERM")
case("create a scratch file twice with O_EXCL", lambda: os.open(f"{M}/s/big.tmp", os.O_CREAT | os.O_EXCL | os.O_WRONLY), "EEXIST")
os.unlink(f"{M}/s/big.tmp")
case("rename onto 'ctl'", lambda: os.rename(f"{M}/s", f"{M}/ctl"), "ENOTDIR")
case("rename onto 'team-chat-all'", lambda: os.rename(f"{M}/s", f"{M}/team-chat-all"), "EINVAL")
case("rename 'ctl'", lambda: os.rename(f"{M}/ctl", f"{M}/zz"), "EPERM")
case("rename into another directory", lambda: os.rename(f"{M}/s", f"{M}/canary/s"), "EXDEV")
case("rmdir memory", lambda: os.rmdir(f"{M}/memory"), "EPERM")
case("rmdir snapshots", lambda: os.rmdir(f"{M}/snapshots"), "EPERM")
case("unlink a search result", lambda: os.unlink(f"{M}/memory/search/x"), "EPERM")

# --- snapshot names
case("snapshot named '.x'", lambda: os.mkdir(f"{M}/snapshots/.x"), "EINVAL")
case("snapshot name of 65 bytes", lambda: os.mkdir(f"{M}/snapshots/" + "z" * 65), "EINVAL")
case("snapshot name with a space", lambda: os.mkdir(f"{M}/snapshots/a b"), "EINVAL")
case("a snapshot below a snapshot", lambda: (os.mkdir(f"{M}/snapshots/t1"), os.mkdir(f"{M}/snapshots/t1/x")), "EROFS")
case("write into a snapshot", read_file(f"{M}/snapshots/t1/metadata.json", os.O_WRONLY), "EROFS")

# --- FTS5 syntax bombs: an error message, never a crash
for query in ['"unbalanced', "NEAR(", "*", "(" * 100, "a AND", "AND OR NOT", "col:thing", "^"]:
    case(f"search {query[:20]!r}", lambda q=query: open(f"{M}/memory/search/{q}").read(), "EINVAL")
for query in ["x" * 250, '""""']:  # odd but valid: no hits
    case(f"search {query[:20]!r} (valid, no hits)", lambda q=query: open(f"{M}/memory/search/{q}").read(), "ok")
case("search plain words after the bombs", lambda: open(f"{M}/memory/search/canary").read(), "ok")

# --- headers in every position
write_file(f"{M}/s/input", b"x [priority-high] in the middle\n")()
results.append(drain(f"{M}/s/output") == "x [priority-high] in the middle\n")
print("PASS" if results[-1] else "FAIL", "a header after content is content")
write_file(f"{M}/s/input", b"[team-chat-to-canary] not a header here\n")()
results.append(drain(f"{M}/s/output") == "[team-chat-to-canary] not a header here\n")
print("PASS" if results[-1] else "FAIL", "[team-chat-to-X] in a socket's own input is content")
write_file(f"{M}/s/input", b"[priority-high]\t[priority-high] double\n")()
results.append(drain(f"{M}/s/output") == "double\n")
print("PASS" if results[-1] else "FAIL", "repeated headers are all taken off")
case("team message to nobody known", write_file(f"{M}/team-chat-all/input", b"[team-chat-to-ghost] hi"), "ENOENT",
     f"{M}/team-chat-all/error", "no socket named ghost")

# --- the queue limit and an unresponsive socket
write_file(f"{M}/s/ctl", b"model echo/slow\n")()
for n in range(3):
    write_file(f"{M}/s/input", b"one two three four five\n")()
case("a full queue", write_file(f"{M}/s/input", b"one more\n"), "EAGAIN", E, "queue full (3 unanswered messages)")
write_file(f"{M}/s/ctl", b"cancel\nreset\nmodel echo\n")()
write_file(f"{M}/s/ctl", b"state unresponsive\n")()
case("input to an unresponsive socket", read_file(f"{M}/s/input", os.O_WRONLY), "EHOSTDOWN", E, "socket is unresponsive")
write_file(f"{M}/s/ctl", b"state active\n")()

# --- afterwards: every socket answers and nothing was lost
for name in sorted(os.listdir(M)):
    if not os.path.exists(f"{M}/{name}/prompt"):
        continue
    write_file(f"{M}/{name}/ctl", b"state active\nmodel echo\n")()
    drain(f"{M}/{name}/output")
    write_file(f"{M}/{name}/input", f"still there {name}\n".encode())()
    answer = drain(f"{M}/{name}/output")
    results.append(answer == f"still there {name}\n")
    print("PASS" if results[-1] else "FAIL", f"{name} still answers: {answer!r}")
results.append(open(f"{M}/canary/prompt", "rb").read() == b"You are the canary.\n")
print("PASS" if results[-1] else "FAIL", "the canary's prompt is intact")
now = open(f"{M}/canary/transcript", "rb").read()
results.append(now.startswith(canary_transcript))
print("PASS" if results[-1] else "FAIL", "the canary's transcript only grew")

print(f"{len(results)} checks, {results.count(False)} failed")
