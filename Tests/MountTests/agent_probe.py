#!/usr/bin/env python3
"""A test agent: answers each message read from $AIFS_SOCKET/inbox through outbox.
`whoami` (its uid), `env`, `connect PORT` (TCP to 127.0.0.1), `read PATH`, `ls PATH`,
`hold` (first time: marks its home and never answers; after a restart: answers), `spawn`
(leaves a child behind), `brain PROMPT` (its model's completion), `net JSON` (the network
response), `burst N URL` (N GETs through network: "ok K refused R"), `raw TEXT` (TEXT
written to network as is), `ctl LINE` (written to its own ctl); anything else: "agent got: MESSAGE"."""
import errno, json, os, socket, subprocess, time
S, HOME = os.environ["AIFS_SOCKET"], os.environ["HOME"]

def reply(text):
    with open(S + "/outbox", "w") as f:
        f.write(text)

def exchange(name, data):
    fd = os.open(S + "/" + name, os.O_RDWR)
    try:
        os.write(fd, data.encode())
        out = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return out.decode()
            out += chunk
    finally:
        os.close(fd)

def failure(e):
    return errno.errorcode.get(e.errno, str(e))

while True:
    with open(S + "/inbox") as f:
        msg = f.read().strip()
    cmd, _, arg = msg.partition(" ")
    if cmd == "whoami":
        reply(f"uid {os.getuid()} gid {os.getgid()}")
    elif cmd == "env":
        reply("\n".join(f"{k}={v}" for k, v in sorted(os.environ.items())))
    elif cmd == "connect":
        try:
            socket.create_connection(("127.0.0.1", int(arg)), timeout=10).close()
            reply("connect: ok")
        except OSError as e:
            reply("connect: " + failure(e))
    elif cmd == "read":
        try:
            open(arg, "rb").read(1)
            reply(f"read {arg}: ok")
        except OSError as e:
            reply(f"read {arg}: " + failure(e))
    elif cmd == "ls":
        reply(" ".join(sorted(os.listdir(arg))))
    elif cmd == "hold":
        if os.path.exists(HOME + "/held"):
            os.remove(HOME + "/held")
            reply("hold answered after the restart")
        else:
            open(HOME + "/held", "w").close()
            time.sleep(3600)
    elif cmd == "brain":
        reply("brain: " + exchange("brain", arg))
    elif cmd in ("net", "raw"):
        reply(exchange("network", arg).strip())
    elif cmd == "burst":
        count, url = arg.split(" ", 1)
        ok = refused = 0
        for i in range(int(count)):
            r = json.loads(exchange("network", json.dumps({"request_id": i, "url": url})))
            ok += r["status"] == 200
            refused += "network_rate" in (r["error"] or "")
        reply(f"ok {ok} refused {refused}")
    elif cmd == "ctl":
        try:
            with open(S + "/ctl", "w") as f:
                f.write(arg + "\n")
            reply("ctl: ok")
        except OSError as e:
            reply("ctl: " + failure(e))
    elif cmd == "spawn":
        subprocess.Popen(["sleep", "1000"])
        reply("spawned")
    else:
        reply("agent got: " + msg)
