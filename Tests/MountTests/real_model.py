#!/usr/bin/env python3
"""Helpers for RealModelTests: what a real llama-server says about itself, and readers that
watch it while aifs streams from it. Every wait is for an event (a slot's state, the end of a
read), bounded by a deadline far above what the event needs.

    real_model.py stream SOCKETDIR PORT   write nothing; read SOCKETDIR/output to EOF, and when
                                          the first bytes arrive ask /slots whether the server is
                                          still generating (so the bytes came before the end)
    real_model.py totals PORT             the server's own counters: prompt tokens (processed and
                                          cached) and tokens predicted, from /metrics
    real_model.py cancel SOCKETDIR PORT   once the reply streams, write `cancel` to ctl and wait
                                          until every slot of the server is idle
"""
import json, os, sys, time, urllib.request


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def generating(port):
    return any(slot.get("is_processing") for slot in json.loads(get(port, "/slots")))


def wait_until(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def stream(sock, port):
    fd = os.open(os.path.join(sock, "output"), os.O_RDONLY)
    first = os.read(fd, 65536)
    still = generating(port)
    chunks, reply = 1, first
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError as e:
            print(f"read failed: {e.strerror}")
            break
        if not chunk:
            break
        chunks, reply = chunks + 1, reply + chunk
    os.close(fd)
    print(f"first bytes while the server was generating: {still}")
    print(f"reply bytes: {len(reply)} in {chunks} reads")


def totals(port):
    values = {}
    for line in get(port, "/metrics").splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name] = float(value)
    prompt = int(values["llamacpp:prompt_tokens_total"] + values["llamacpp:prompt_tokens_cached_total"])
    print(f"server prompt tokens: {prompt}")
    print(f"server predicted tokens: {int(values['llamacpp:tokens_predicted_total'])}")


def cancel(sock, port):
    fd = os.open(os.path.join(sock, "output"), os.O_RDONLY)
    os.read(fd, 1)  # the reply streams
    print(f"generating before the cancel: {wait_until(lambda: generating(port), 60)}")
    with open(os.path.join(sock, "ctl"), "w") as f:
        f.write("cancel\n")
    # Idle again at all (bounded only against a hang); that it stopped early, not at the end of
    # the reply, is told by the server's count of tokens predicted (see `totals`).
    print(f"every slot idle after the cancel: {wait_until(lambda: not generating(port), 120)}")
    try:
        while os.read(fd, 65536):
            pass
        print("reader: EOF")
    except OSError as e:
        print(f"reader: {e.strerror}")
    os.close(fd)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "stream":
        stream(sys.argv[2], sys.argv[3])
    elif command == "totals":
        totals(sys.argv[2])
    elif command == "cancel":
        cancel(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {command}")
