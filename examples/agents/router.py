#!/usr/bin/env python3
"""A router agent: each message is `CAPABILITY: QUESTION`. It reads /ai/directory, picks the
first other socket whose capabilities include CAPABILITY, asks it through that socket's
`chat` (its configuration grants it those sockets), and replies with the answer."""
import json, os

S = os.environ["AIFS_SOCKET"]
ME = os.path.basename(S)

def ask(name, question):
    fd = os.open(f"/ai/{name}/chat", os.O_RDWR)
    try:
        os.write(fd, question.encode())
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
        return data.decode().strip()
    finally:
        os.close(fd)

while True:
    with open(S + "/inbox") as f:
        message = f.read().strip()
    wanted, _, question = message.partition(":")
    sockets = json.load(open("/ai/directory"))["sockets"]
    fits = [s["name"] for s in sockets
            if s["name"] != ME and wanted.strip() in s["capabilities"] and os.path.isdir("/ai/" + s["name"])]
    if fits:
        answer = f"[routed to {fits[0]}] " + ask(fits[0], question.strip())
    else:
        answer = f"no socket has the capability '{wanted.strip()}'"
    with open(S + "/outbox", "w") as f:
        f.write(answer)
