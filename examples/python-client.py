#!/usr/bin/env python3
"""A Python client in a dozen lines: ask a socket through its chat file.

    examples/python-client.py [MOUNTPOINT]

`chat` is opened read/write: what is written is one message, and the reply comes back on the
same descriptor only, then EOF. So threads (or programs) sharing a socket each get their own
answer, and nothing reaches `output`.
"""
import os, sys, threading

def ask(socket_dir, message):
    """Send `message` to the socket and return its reply."""
    fd = os.open(os.path.join(socket_dir, "chat"), os.O_RDWR)
    try:
        data = message.encode()
        while data:                                   # a write may take only part of the bytes
            data = data[os.write(fd, data):]
        reply = bytearray()
        while chunk := os.read(fd, 65536):            # the first read sends the message
            reply += chunk
        return reply.decode(errors="replace")
    finally:
        os.close(fd)

ai = sys.argv[1] if len(sys.argv) > 1 else "/ai"
sock = os.path.join(ai, "pyclient")
os.mkdir(sock)
try:
    print(ask(sock, "What is a file descriptor?"), end="")

    answers = {}
    def worker(name):
        answers[name] = ask(sock, f"{name} asks: what is a pipe?")
    threads = [threading.Thread(target=worker, args=(n,)) for n in ("alice", "bob", "carol")]
    for t in threads: t.start()
    for t in threads: t.join()
    for name in sorted(answers):
        print(f"{name} got: {answers[name]}", end="")

    fd = os.open(os.path.join(sock, "output"), os.O_RDONLY | os.O_NONBLOCK)
    print(f"output holds {len(os.read(fd, 65536))} bytes")  # EOF at once: chat replies never go there
    os.close(fd)
finally:
    os.rmdir(sock)                                    # rmdir removes a socket with its files
