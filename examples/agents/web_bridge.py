#!/usr/bin/env python3
"""A web-bridge agent: each message is a URL; the reply is what GET of it returned. It has no
network of its own (bubblewrap): the fetch goes through the socket's `network` file, which the
daemon performs only if [agents.web] network_allow permits it."""
import json, os

S = os.environ["AIFS_SOCKET"]

def network(request):
    fd = os.open(S + "/network", os.O_RDWR)
    try:
        os.write(fd, json.dumps(request).encode())
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
        return json.loads(data)
    finally:
        os.close(fd)

number = 0
while True:
    with open(S + "/inbox") as f:               # blocks until a message comes
        url = f.read().strip().split()[-1]      # the last word is the URL
    number += 1
    r = network({"request_id": number, "method": "GET", "url": url, "timeout": 10})
    text = r["body"] if r["error"] is None else f"cannot fetch {url}: {r['error']}"
    with open(S + "/outbox", "w") as f:         # the reply goes where the message came from
        f.write(text)
