"""Case `streaming` of bench.py: 10,000 tokens from a fake OpenAI server (stream_server.py),
read through aifs (`input`, then `output` to EOF) against the same stream read directly over
HTTP by the same python process.

Every token carries the server's monotonic clock at the moment it was written, so the reader
knows how late each token reached it. Two shapes, each run direct and through aifs, alternating:
  unpaced  the server writes 10,000 events as fast as it can: total time is the cost of moving
           the tokens (goal: aifs total ≤ 1.2× direct);
  paced    one token every 0.5 ms (2,000 tokens/s, faster than any hosted model streams): the
           added latency per token (goal: aifs p99 − direct p99 ≤ 1 ms) and the total.
Each aifs run uses a new socket, so no run sends the previous reply as context.
"""
import http.client, json, os, re, subprocess, sys, time
from bench_common import ROOT, CLEANUP, Row, aifs_mount, fmt_ms, judged, median, percentile

TOKENS = 10_000
PACE = 0.0005
TOKEN = re.compile(rb"T(\d+);")  # the `;` ends a token: counted the moment it is complete


class Reader:
    """Collects the per-token latency (ns) of everything fed to it."""

    def __init__(self):
        self.carry, self.latencies, self.count = b"", [], 0

    def feed(self, chunk):
        now = time.monotonic_ns()
        text = self.carry + chunk
        end = 0
        for m in TOKEN.finditer(text):
            self.latencies.append(now - int(m.group(1)))
            end = m.end()
        self.carry = text[end:]


def start_server(work):
    portfile = os.path.join(work, "stream-server.port")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "Benchmarks", "stream_server.py"), portfile],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "stream-server.log"), "w"))
    CLEANUP.append(lambda: (proc.kill(), proc.wait()))
    deadline = time.monotonic() + 10
    while not os.path.exists(portfile):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("stream_server.py did not start")
        time.sleep(0.02)
    return proc, int(open(portfile).read())


def config(port, default=False):
    text = f'[providers.bench]\nkind = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\nmodels = ["m"]\n'
    return (f'[models]\ndefault = "bench/m"\n\n' + text) if default else text


def direct(port, message):
    """POSTs the request aifs would send and reads the SSE stream to its end."""
    reader = Reader()
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": message}]})
    conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        reader.feed(chunk)
    conn.close()
    return time.perf_counter() - start, reader


def through_aifs(mnt, sock, message):
    """Writes the message to a new socket's input and reads its output to EOF."""
    path = os.path.join(mnt, sock)
    os.mkdir(path)
    with open(os.path.join(path, "ctl"), "w") as f:
        f.write("model bench/m\n")
    reader = Reader()
    start = time.perf_counter()
    fd = os.open(os.path.join(path, "input"), os.O_WRONLY)
    os.write(fd, message.encode())
    os.close(fd)
    fd = os.open(os.path.join(path, "output"), os.O_RDONLY)
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        reader.feed(chunk)
    os.close(fd)
    return time.perf_counter() - start, reader


def run(aifs, work, quick=False):
    server, port = start_server(work)
    daemon = aifs_mount(aifs, work, "stream", "disk", config(port))
    tokens = 1000 if quick else TOKENS
    reps = 1 if quick else 3
    direct(port, "stream 100 0"), through_aifs(daemon.mnt, "warm", "stream 100 0")  # warm-up
    results = {}
    for shape, pace in (("unpaced", 0), ("paced", PACE)):
        message = f"stream {tokens} {pace}"
        d, a = [], []
        for r in range(reps):
            d.append(direct(port, message))
            a.append(through_aifs(daemon.mnt, f"{shape}{r}", message))
        for label, runs in (("direct", d), ("aifs", a)):
            for _, reader in runs:
                if len(reader.latencies) != tokens:
                    raise RuntimeError(f"{shape} {label}: {len(reader.latencies)} tokens, expected {tokens}")
        results[shape] = {
            "direct_total_s": median([t for t, _ in d]), "aifs_total_s": median([t for t, _ in a]),
            "direct_p50_ms": median([percentile(r.latencies, 50) for _, r in d]) / 1e6,
            "direct_p99_ms": median([percentile(r.latencies, 99) for _, r in d]) / 1e6,
            "aifs_p50_ms": median([percentile(r.latencies, 50) for _, r in a]) / 1e6,
            "aifs_p99_ms": median([percentile(r.latencies, 99) for _, r in a]) / 1e6,
        }
    daemon.stop()
    server.kill()
    rows = []
    for shape in ("unpaced", "paced"):
        x = results[shape]
        r = x["aifs_total_s"] / x["direct_total_s"]
        what = "as fast as the server writes" if shape == "unpaced" else f"paced at {1 / PACE:,.0f} tokens/s"
        rows.append(Row("streaming", f"total, {tokens:,} tokens {what}", fmt_ms(x["aifs_total_s"]),
                        f"direct HTTP {fmt_ms(x['direct_total_s'])}", f"{r:.2f}×", "≤ 1.2×", judged(r <= 1.2),
                        results if shape == "unpaced" else {}))
    for shape in ("paced", "unpaced"):
        x = results[shape]
        added = x["aifs_p99_ms"] - x["direct_p99_ms"]
        rows.append(Row("streaming", f"p99 token latency, {shape} (p50 {x['aifs_p50_ms']:.2f} vs {x['direct_p50_ms']:.2f} ms)",
                        f"{x['aifs_p99_ms']:.2f} ms", f"direct {x['direct_p99_ms']:.2f} ms", f"+{added:.2f} ms",
                        "≤ +1 ms" if shape == "paced" else "—", judged(added <= 1) if shape == "paced" else "info"))
    return rows
