#!/usr/bin/env python3
"""A fake model server for the mounted tests: OpenAI Chat Completions and Anthropic Messages
streams on 127.0.0.1, answering "reply: " + the words of the last user message, one token
(word) per event, TOKEN_DELAY seconds apart. A message containing `please-401` gets HTTP 401,
one containing `please-429` gets HTTP 429 with `retry-after: 0.1` (every time). A message starting
with `please-say ` is answered with exactly the rest of it (no "reply:"). The model named `slow`
sends its tokens 0.3 s apart, whatever TOKEN_DELAY is.

    python3 fake_model_server.py PORTFILE REQUESTLOG [TOKEN_DELAY]

Writes its port to PORTFILE once listening, and one JSON line per request (path, model, the number
of messages, their contents, whether an auth header came) to REQUESTLOG.
"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, LOG = sys.argv[1], sys.argv[2]
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        messages = body.get("messages", [])
        with lock, open(LOG, "a") as log:
            log.write(json.dumps({"path": self.path, "model": body.get("model", ""), "messages": len(messages),
                                  "contents": [m.get("content", "") for m in messages], "system": body.get("system", ""),
                                  "auth": bool(self.headers.get("authorization") or self.headers.get("x-api-key"))}) + "\n")
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if "please-401" in last:  # faults on demand: the message names the fault
            return self.fail(401, {"error": {"message": "invalid api key", "type": "authentication_error"}})
        if "please-429" in last:
            return self.fail(429, {"error": {"message": "rate limited"}}, [("retry-after", "0.1")])
        tokens = last[len("please-say "):].split() if last.startswith("please-say ") else ["reply:"] + last.split()
        delay = 0.3 if body.get("model") == "slow" else DELAY
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        anthropic = self.path.endswith("/messages")

        def send(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        if anthropic:
            send('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n')
            send('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n')
        for i, token in enumerate(tokens):
            if delay:
                time.sleep(delay)
            text = token if i == 0 else " " + token
            if anthropic:
                send('event: content_block_delta\ndata: %s\n\n' % json.dumps(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}))
            else:
                send("data: %s\n\n" % json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}))
        if anthropic:
            send('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":%d}}\n\n' % len(tokens))
            send('event: message_stop\ndata: {"type":"message_stop"}\n\n')
        else:
            send('data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d}}\n\n' % len(tokens))
            send("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


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
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
