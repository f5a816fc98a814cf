"""Case `team` of bench.py: a `mode race` round of three members whose model answers after
50 ms, 500 ms and 5 s (the test suite's fake server, `wait-MS` models), on a fresh aifs (store on
disk).

Baseline: the same question to the 50 ms member alone, through its own `input` and `output`
(what the race's winner costs by itself). aifs: one write to `team-chat-all/input`, then
`team-chat-all/output` read to EOF (the winner's reply and a `[cancelled]` line per loser).
Goal (issue "Long conversations…"): a race round returns the 50 ms answer in under 0.4 s.
The server's `/stats` must show no request still open after each round (the losers aborted).
"""
import json, os, subprocess, sys, time, urllib.request
from bench_common import ROOT, Row, _die_with_parent, aifs_mount, fmt_ms, judged, median, round_trip

SERVER = os.path.join(ROOT, "Tests", "MountTests", "fake_model_server.py")
QUESTION = b"who is first\n"


def read_all(path):
    fd = os.open(path, os.O_RDONLY)
    data = bytearray()
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return bytes(data)


def settled(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats"))
        if stats["open"] == 0:
            return True
        time.sleep(0.01)
    return False


def run(aifs, work, quick=False):
    rounds = 3 if quick else 20
    portfile = os.path.join(work, "team-port")
    server = subprocess.Popen([sys.executable, SERVER, portfile, "/dev/null"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    daemon = None
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(portfile) and time.monotonic() < deadline:
            time.sleep(0.02)
        port = open(portfile).read().strip()
        config = (f'[providers.fo]\nkind = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                  'models = ["wait-50", "wait-500", "wait-5000"]\n')
        daemon = aifs_mount(aifs, work, "team", "disk", config)
        m = daemon.mnt
        for name, model in (("a", "wait-50"), ("b", "wait-500"), ("c", "wait-5000")):
            os.mkdir(os.path.join(m, name))
            with open(os.path.join(m, name, "ctl"), "w") as f:
                f.write(f"model fo/{model}\n")
        alone, race = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            round_trip(os.path.join(m, "a", "input"), os.path.join(m, "a", "output"), QUESTION)
            alone.append(time.perf_counter() - t)
        with open(os.path.join(m, "team-chat-all", "ctl"), "w") as f:
            f.write("mode race\n")
        for _ in range(rounds):
            t = time.perf_counter()
            fd = os.open(os.path.join(m, "team-chat-all", "input"), os.O_WRONLY)
            os.write(fd, QUESTION)
            os.close(fd)
            out = read_all(os.path.join(m, "team-chat-all", "output"))
            race.append(time.perf_counter() - t)
            if not out.startswith(b"[team-chat-from-a]\n") or out.count(b"lost the race to a") != 2:
                raise RuntimeError(f"race round output: {out[:200]!r}")
            if not settled(port):
                raise RuntimeError("a loser's request is still open at the server")
        p50 = median(race)
        return [Row("team", "`mode race` round, members of 50 ms, 500 ms, 5 s (losers aborted), p50",
                    fmt_ms(p50), f"the 50 ms member alone {fmt_ms(median(alone))}", f"{p50 / median(alone):.2f}×",
                    "≤ 400 ms", judged(p50 < 0.4), {"race_s": race, "alone_s": alone})]
    finally:
        if daemon:
            daemon.stop()
        server.terminate()
        server.wait()
