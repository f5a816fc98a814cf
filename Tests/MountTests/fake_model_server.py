#!/usr/bin/env python3
"""A fake model server for the mounted tests: OpenAI Chat Completions and Anthropic Messages
streams on 127.0.0.1, answering "reply: " + the words of the last user message, one token
(word) per event, TOKEN_DELAY seconds apart. A message containing `please-401` gets HTTP 401,
one containing `please-429` gets HTTP 429 with `retry-after: 0.1` (every time). A message starting
with `please-say ` is answered with exactly the rest of it (no "reply:"). The model named `slow`
sends its tokens 0.3 s apart, whatever TOKEN_DELAY is. The model named `gated` sends the head
and its first token, then the rest only once the file given by `--gate` exists; `held` sends
the head and no token before that (events the test controls, instead of delays that race the
machine's speed; the file is checked for each request, so removing it closes the gate again).

    python3 fake_model_server.py PORTFILE REQUESTLOG [TOKEN_DELAY] [--port N] [--gate FILE]
                                 [--fail-rate F] [--cut-rate F] [--seed S]

`GET /v1/models` lists those model names.

Writes its port to PORTFILE once listening, and one JSON line per request (path, model, the number
of messages, their contents, whether an auth header came) to REQUESTLOG (`/dev/null` is fine).
`--port` listens on that port (to come back where a killed server was).

Faults, for the load and fault tests. Without these options and words it behaves as above.
- `--fail-rate F`: that fraction of requests (chosen at random) gets HTTP 500.
- `--cut-rate F`: that fraction of the streams is cut after about half of its tokens: the
  connection is closed without the end of the body.
- A fault by name: the model is named FAULT, or the last user message contains `please-FAULT`:
  - `fail`: HTTP 500, every time.
  - `cut`: the stream is cut after its first tokens, every time.
  - `die`: the whole server process exits (status 3) after the first tokens, mid-stream.
  - `hang`: the head and the first token are sent, then nothing more, ever.
  - `hang-head`: the request is read and never answered (no head).
  - `trickle`: the head and the first token, then an SSE comment line every 0.2 s, forever
    (the connection is never idle, and the reply never ends).
"""
import argparse, json, os, random, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("portfile")
parser.add_argument("log")
parser.add_argument("delay", nargs="?", type=float, default=0.0)
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--gate", default=None)
parser.add_argument("--fail-rate", type=float, default=0.0)
parser.add_argument("--cut-rate", type=float, default=0.0)
parser.add_argument("--seed", type=int, default=None)
ARGS = parser.parse_intermixed_args()
PORTFILE, LOG, DELAY = ARGS.portfile, ARGS.log, ARGS.delay
FAULTS = ("fail", "cut", "die", "hang-head", "hang", "trickle")  # hang-head before hang: "please-hang" is in it
lock = threading.Lock()
rng = random.Random(ARGS.seed)
forever = threading.Event()  # never set: what a hanging handler waits on


def chance(rate):
    if rate <= 0:
        return False
    with lock:
        return rng.random() < rate


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        """`GET /v1/models`: the models this server knows by name, in both vendors' shape."""
        if not self.path.split("?")[0].endswith("/v1/models"):
            self.send_error(404)
            return
        names = ["m", "slow", "gated", "held"] + list(FAULTS)
        body = json.dumps({"object": "list", "data": [{"id": n, "object": "model", "type": "model"} for n in names],
                           "has_more": False}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        messages = body.get("messages", [])
        model = body.get("model", "")
        with lock, open(LOG, "a") as log:
            log.write(json.dumps({"path": self.path, "model": model, "messages": len(messages),
                                  "contents": [m.get("content", "") for m in messages], "system": body.get("system", ""),
                                  "auth": bool(self.headers.get("authorization") or self.headers.get("x-api-key"))}) + "\n")
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if "please-401" in last:  # faults on demand: the message names the fault
            return self.fail(401, {"error": {"message": "invalid api key", "type": "authentication_error"}})
        if "please-429" in last:
            return self.fail(429, {"error": {"message": "rate limited"}}, [("retry-after", "0.1")])
        fault = model if model in FAULTS else next((f for f in FAULTS if "please-" + f in last), None)
        if fault == "hang-head":
            forever.wait()
        if fault == "fail" or (fault is None and chance(ARGS.fail_rate)):
            return self.fail(500, {"error": {"message": "injected failure", "type": "server_error"}})
        if fault is None and chance(ARGS.cut_rate):
            fault = "cut-half"
        tokens = last[len("please-say "):].split() if last.startswith("please-say ") else ["reply:"] + last.split()
        delay = 0.3 if model == "slow" else DELAY
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        anthropic = self.path.endswith("/messages")

        def send(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        # After how many tokens a stream fault strikes (at least one token is always sent).
        strike = {"cut": 1, "die": 2, "hang": 1, "trickle": 1}.get(fault, max(1, len(tokens) // 2) if fault == "cut-half" else None)
        if anthropic:
            send('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n')
            send('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n')
        for i, token in enumerate(tokens):
            if strike is not None and i == strike:
                return self.strike(fault)
            if (model == "gated" and i == 1) or (model == "held" and i == 0):
                while not (ARGS.gate and os.path.exists(ARGS.gate)):
                    time.sleep(0.01)
            if delay:
                time.sleep(delay)
            text = token if i == 0 else " " + token
            if anthropic:
                send('event: content_block_delta\ndata: %s\n\n' % json.dumps(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}))
            else:
                send("data: %s\n\n" % json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}))
        if strike is not None:  # fewer tokens than the strike point: strike at the end
            return self.strike(fault)
        if anthropic:
            send('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":%d}}\n\n' % len(tokens))
            send('event: message_stop\ndata: {"type":"message_stop"}\n\n')
        else:
            send('data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d}}\n\n' % len(tokens))
            send("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def strike(self, fault):
        """A fault in the middle of a stream that has sent its first tokens."""
        if fault == "die":
            os._exit(3)  # the whole server, at once, every connection with it
        if fault == "hang":
            forever.wait()
        if fault == "trickle":
            while True:
                time.sleep(0.2)
                data = b": still thinking\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
        # cut: close the connection without the end of the chunked body
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def fail(self, status, body, headers=()):
    data = json.dumps(body).encode()
    self.send_response(status)
    self.send_header("content-type", "application/json")
    self.send_header("content-length", str(len(data)))
    for name, value in headers:
        self.send_header(name, value)
    self.end_headers()
    self.wfile.write(data)


Handler.fail = fail


class Server(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of sockets may connect at once (the default backlog is 5)
    allow_reuse_address = True  # --port: listen again where a killed server was
    daemon_threads = True


server = Server(("127.0.0.1", ARGS.port), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
