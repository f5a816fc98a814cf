#!/usr/bin/env python3
"""Acknowledged messages and their outcomes, for the load and fault tests.

A message is *acknowledged* when the close() of the `input` descriptor it was written to
returned 0. Its outcome is in its socket's transcript: the message is logged as
`[team-chat-to-NAME] TIME uid=U id=N` followed by its content, and the outcome as
`[team-chat-from-NAME] TIME id=N` (answered), `[error] TIME id=N` (failed) or
`[cancelled] TIME id=N`, each followed by a body line.

    python3 acknowledged.py send MOUNT SOCKET TEXT...    one message per TEXT; prints `ack TEXT` or
                                                         `refused TEXT ERRNO-NAME (strerror)`; appends
                                                         `SOCKET<TAB>TEXT` of each acknowledged one to
                                                         $ACKED when set
    python3 acknowledged.py check MOUNT ACKED [SECONDS]  waits up to SECONDS (default 30) until every
                                                         message listed in the file ACKED has an outcome;
                                                         prints the counts; exit status 1 if one is
                                                         missing, has none, or a reply is not `reply: TEXT`
                                                         / TEXT (echo models)
"""
import errno, os, re, sys, time

HEADER = re.compile(r"^\[(team-chat-to-[^\]]+|team-chat-from-[^\]]+|error|cancelled)\] .*\bid=(\d+)$")


def send(mount, name, text):
    """Writes one message; True if acknowledged (close() returned 0)."""
    fd = os.open(f"{mount}/{name}/input", os.O_WRONLY)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)
    return True


def outcomes(mount, name):
    """From a transcript: {content: id} of the messages, {id: [(kind, body)]} of the outcomes."""
    with open(f"{mount}/{name}/transcript", encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    ids, ends = {}, {}
    for i, line in enumerate(lines[:-1]):
        match = HEADER.match(line)
        if not match:
            continue
        kind, mid, body = match.group(1), int(match.group(2)), lines[i + 1]
        if kind == f"team-chat-to-{name}":
            ids[body] = mid
        elif kind == f"team-chat-from-{name}":
            ends.setdefault(mid, []).append(("answered", body))
        else:
            ends.setdefault(mid, []).append((kind, body))
    return ids, ends


def check(mount, acked):
    """Outcome of every acknowledged (socket, text): counts and the problems found."""
    cache = {}
    result = {"acked": len(acked), "answered": 0, "failed": 0, "cancelled": 0,
              "missing": [], "unresolved": [], "wrong": [], "doubled": []}
    for name, text in acked:
        if name not in cache:
            cache[name] = outcomes(mount, name)
        ids, ends = cache[name]
        mid = ids.get(text)
        if mid is None:
            result["missing"].append(f"{name}: {text}")
            continue
        found = ends.get(mid, [])
        if not found:
            result["unresolved"].append(f"{name}: {text} (id={mid})")
            continue
        if len(found) > 1:
            result["doubled"].append(f"{name}: {text} (id={mid}): {found}")
        kind, body = found[0]
        if kind == "answered":
            result["answered"] += 1
            if body not in ("reply: " + text, text):
                result["wrong"].append(f"{name}: {text}: {body!r}")
        elif kind == "error":
            result["failed"] += 1
        else:
            result["cancelled"] += 1
    return result


def problems(result):
    return sum(len(result[k]) for k in ("missing", "unresolved", "wrong", "doubled"))


def summary(result):
    text = (f"acknowledged {result['acked']}: {result['answered']} answered, {result['failed']} failed, "
            f"{result['cancelled']} cancelled, {len(result['missing'])} missing, "
            f"{len(result['unresolved'])} without an outcome, {len(result['wrong'])} wrong replies, "
            f"{len(result['doubled'])} with two outcomes")
    for key in ("missing", "unresolved", "wrong", "doubled"):
        if result[key]:
            text += f"\n{key}: {result[key][:10]}"
    return text


def main():
    command, mount = sys.argv[1], sys.argv[2]
    if command == "send":
        name = sys.argv[3]
        for text in sys.argv[4:]:
            try:
                send(mount, name, text)
            except OSError as e:
                print(f"refused {text} {errno.errorcode.get(e.errno, e.errno)} ({e.strerror})", flush=True)
                continue
            print(f"ack {text}", flush=True)
            if os.environ.get("ACKED"):
                with open(os.environ["ACKED"], "a") as f:
                    f.write(f"{name}\t{text}\n")
    elif command == "check":
        with open(sys.argv[3]) as f:
            acked = [tuple(line.rstrip("\n").split("\t", 1)) for line in f if line.strip()]
        deadline = time.monotonic() + (float(sys.argv[4]) if len(sys.argv) > 4 else 30)
        while True:
            result = check(mount, acked)
            if problems(result) == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        print(summary(result))
        sys.exit(1 if problems(result) else 0)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
