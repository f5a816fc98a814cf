#!/usr/bin/env python3
"""The benchmark's fake model server: OpenAI Chat Completions streams on 127.0.0.1.

    python3 Benchmarks/stream_server.py PORTFILE

The last user message says what to send:
  `stream N INTERVAL`  N tokens, one SSE event each, token i sent at start + i*INTERVAL seconds
                       (INTERVAL 0: as fast as the server can write). Each token is " T<ns>;", where
                       <ns> is time.monotonic_ns() just before the event is written, so a reader
                       on this machine can tell how late each token reached it (the `;` ends the
                       token, so a reader knows it has all its digits without waiting for the next).
  `stall`              the response headers, then nothing until the client goes away (or 10 min):
                       a request that stays in flight.
Writes its port to PORTFILE once listening.
"""
import json, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        last = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        words = last.split()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if words[:1] == ["stall"]:
            return self.stall()
        count = int(words[1]) if len(words) > 1 else 10
        interval = float(words[2]) if len(words) > 2 else 0.0
        start = time.monotonic()
        write = self.wfile.write
        for i in range(count):
            if interval:
                wait = start + i * interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            event = b'data: {"choices":[{"index":0,"delta":{"content":" T%d;"}}]}\n\n' % time.monotonic_ns()
            write(b"%x\r\n%s\r\n" % (len(event), event))
        for event in (b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"):
            write(b"%x\r\n%s\r\n" % (len(event), event))
        write(b"0\r\n\r\n")

    def stall(self):
        deadline = time.monotonic() + 600
        self.connection.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                if self.connection.recv(1) == b"":
                    return  # the client closed the connection
            except socket.timeout:
                continue
            except OSError:
                return


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


server = Server(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
