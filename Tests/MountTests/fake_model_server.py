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
                                 [--fail-rate F] [--cut-rate F] [--seed S] [--ready FIFO]

`GET /v1/models` lists those model names.

Latency and refusal per model, for the team chat's race and fallback tests:
- `wait-MS` (e.g. `wait-50`, `wait-5000`): the request is held MS milliseconds before the head
  is sent, then answered at once. A client that disconnects meanwhile ends it there.
- `after-NAME` (e.g. `after-wait-5000`): the request is held until a request for model NAME is
  open at this server, then answered at once: a winner that cannot win before
  the loser's request has been sent, whatever the machine's speed.
- `refuse`: HTTP 400 (a status no client retries), every time.
(Neither is in the `GET /v1/models` list, which a test compares whole.)

`GET /stats` tells what became of every request, as JSON: `open` (requests being answered
now) and `requests`, one `{"model", "state"}` each in arrival order, `state` one of `open`,
`completed` (the whole reply was sent), `disconnected` (the client went away first), `refused`
(an error status was sent), `cut` (the server cut the stream on purpose). `GET /stats?idle` answers once `open` is 0: a test waits for that event instead of sleeping.

Tool calling, driven by a script (the words and streams are in `fake_tools.py`). The script is
the last user message whose content is a plain string; without `please-call` lines in it a
request is answered as above.
- `please-call NAME ARGS` (a line of its own): one round of tool calls, ARGS (the rest of the
  line) sent verbatim as the arguments text, invalid JSON too. Several calls in one round:
  `please-call read {"path":"/x"} ;; list {"path":"/"}`. With R rounds of calls already in the
  request (assistant messages with `tool_calls`, or with `tool_use` blocks), line R+1 is streamed
  as the vendor streams tool calls (ids `call_R_K` and `toolu_R_K`, R from 1, K from 0; the
  arguments in pieces of 4 to 8 characters; `finish_reason: "tool_calls"`, `stop_reason:
  "tool_use"`). Past the last line the reply is `answer: ` and the texts of the last round's
  results joined by ` | `, streamed as any reply.
- `please-call-forever NAME ARGS`: from its place in the script on, that round in every round,
  never an answer. TOKEN_DELAY, `slow`, `gated`, `held` and the stream faults apply to the events
  of a round of calls as to tokens.
- Every request is checked as the vendor checks it: each call answered by its result right after
  it (OpenAI: one `role: "tool"` message per `tool_call_id`; Anthropic: a `tool_result` per
  `tool_use` id, first in the next user message), the shapes of calls, results and `tools`
  (required once tools are used). A malformed request gets HTTP 400 and a JSON error in the
  vendor's shape saying what is wrong.

Writes its port to PORTFILE once listening, and one JSON line per request (path, model, the number
of messages, their contents (a content that is not a string as its JSON text) and roles, whether an
auth header came, `body_messages`: the messages exactly as received, `tools`: the names of the tools
offered) to REQUESTLOG (`/dev/null` is fine).
`--port` listens on that port (to come back where a killed server was). `--ready FIFO` also
writes the port and a newline to FIFO once listening, so a test reads it (`read -r PORT < FIFO`)
instead of polling for PORTFILE.

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
import argparse, json, os, random, re, select, socket, sys, threading, time
import fake_tools  # tool calling: the `please-call` script, the vendors' tool-call streams and checks
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("portfile")
parser.add_argument("log")
parser.add_argument("delay", nargs="?", type=float, default=0.0)
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--gate", default=None)
parser.add_argument("--ready", default=None)
parser.add_argument("--fail-rate", type=float, default=0.0)
parser.add_argument("--cut-rate", type=float, default=0.0)
parser.add_argument("--seed", type=int, default=None)
ARGS = parser.parse_intermixed_args()
PORTFILE, LOG, DELAY = ARGS.portfile, ARGS.log, ARGS.delay
FAULTS = ("fail", "cut", "die", "hang-head", "hang", "trickle")  # hang-head before hang: "please-hang" is in it
lock = threading.Lock()
settled = threading.Condition(lock)  # notified whenever a request ends (GET /stats?idle waits on it)
rng = random.Random(ARGS.seed)
forever = threading.Event()  # never set: what a hanging handler waits on
WAIT = re.compile(r"^wait-(\d+)$")
AFTER = re.compile(r"^after-(.+)$")
stats = {"open": 0, "requests": []}  # under lock; see GET /stats


class Disconnected(Exception):
    """The client closed the connection before the reply was complete."""


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
        """`GET /v1/models`: the models this server knows by name, in both vendors' shape.
        `GET /stats`: what became of every request (see the module's comment)."""
        if self.path.split("?")[0] == "/stats":
            with lock:
                if self.path.endswith("?idle"):  # answered once no request is open: an event, not a poll
                    settled.wait_for(lambda: stats["open"] == 0)
                body = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
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
        """One request, counted in `stats` while it runs and marked with how it ended."""
        entry = self.entry = {"model": "", "state": "open"}
        with lock:
            stats["open"] += 1
            stats["requests"].append(entry)
        try:
            self.answer(entry)
            self.mark(entry, "completed")
        except (Disconnected, BrokenPipeError, ConnectionResetError):
            self.mark(entry, "disconnected")
            self.close_connection = True
        finally:
            with lock:
                stats["open"] -= 1
                settled.notify_all()

    def mark(self, entry, state):
        with lock:
            if entry["state"] == "open":
                entry["state"] = state

    def hold(self, seconds):
        """Waits `seconds`, watching the connection: raises Disconnected as soon as the client
        closes it (the request was cancelled)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if not readable:
                continue
            try:
                data = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                raise Disconnected()
            if not data:
                raise Disconnected()
            time.sleep(min(left, 0.01))  # bytes of a next request: not ours to read here

    def hold_until_open(self, name):
        """Waits until a request for model `name` is open here (the test's timeout bounds a failure)."""
        while True:
            with lock:
                if any(r["model"] == name and r["state"] == "open" for r in stats["requests"]):
                    return
            self.hold(0.005)

    def answer(self, entry):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        messages = body.get("messages", [])
        model = body.get("model", "")
        entry["model"] = model
        anthropic = self.path.endswith("/messages")
        with lock, open(LOG, "a") as log:
            log.write(json.dumps({"path": self.path, "model": model, "messages": len(messages),
                                  "contents": [fake_tools.logged_content(m) for m in messages], "system": body.get("system", ""),
                                  "roles": [m.get("role", "") for m in messages],
                                  "auth": bool(self.headers.get("authorization") or self.headers.get("x-api-key")),
                                  "body_messages": messages, "tools": fake_tools.tool_names(body, anthropic)}) + "\n")
        try:  # tool calls, tool results and tools as the vendor requires them
            fake_tools.check(body, anthropic)
        except fake_tools.Malformed as error:
            return self.fail(400, fake_tools.refusal(str(error), anthropic))
        last = fake_tools.text_of(next((m["content"] for m in reversed(messages) if m["role"] == "user"), ""))
        scripted = fake_tools.plan(messages, anthropic)  # None without a `please-call` script
        if model == "refuse":
            return self.fail(400, {"error": {"message": "refused on purpose", "type": "invalid_request_error"}})
        if WAIT.match(model):
            self.hold(int(WAIT.match(model).group(1)) / 1000)
        if AFTER.match(model):
            self.hold_until_open(AFTER.match(model).group(1))
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
        events = None  # a round of tool calls: whole events instead of tokens
        if scripted and scripted[0] == "answer":
            tokens = scripted[1].split()
        elif scripted:
            events = (fake_tools.anthropic_events if anthropic else fake_tools.openai_events)(model, *scripted[1:])
        delay = 0.3 if model == "slow" else DELAY
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def send(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        # After how many tokens a stream fault strikes (at least one token is always sent).
        items = tokens if events is None else events
        strike = {"cut": 1, "die": 2, "hang": 1, "trickle": 1}.get(fault, max(1, len(items) // 2) if fault == "cut-half" else None)
        if anthropic and events is None:
            send('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n')
            send('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n')
        for i, token in enumerate(items):
            if strike is not None and i == strike:
                return self.strike(fault)
            if (model == "gated" and i == 1) or (model == "held" and i == 0):
                while not (ARGS.gate and os.path.exists(ARGS.gate)):
                    time.sleep(0.01)
            if delay:
                time.sleep(delay)
            text = token if i == 0 else " " + token
            if events is not None:
                send(token)
            elif anthropic:
                send('event: content_block_delta\ndata: %s\n\n' % json.dumps(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}))
            else:
                send("data: %s\n\n" % json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}))
        if strike is not None:  # fewer tokens than the strike point: strike at the end
            return self.strike(fault)
        if events is not None:
            pass  # the events end the stream themselves
        elif anthropic:
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
        self.mark(self.entry, "cut")
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def fail(self, status, body, headers=()):
    if getattr(self, "entry", None) is not None:
        self.mark(self.entry, "refused")
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
if ARGS.ready:  # a FIFO the test reads the port from: it waits for this event, not for time
    with open(ARGS.ready, "w") as f:
        f.write(str(server.server_address[1]) + "\n")
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
