"""Tool calling for `fake_model_server.py`: the script words (`please-call`, `please-call-forever`),
the tool-call streams in OpenAI's and Anthropic's exact wire shapes, and the checks a vendor makes
of a follow-up request that carries tool results (a malformed one is refused with HTTP 400).

The script is the last user message whose content is a plain string (the question being
answered: earlier exchanges of the conversation come before it, its tool rounds after it). Each of its lines starting
with `please-call ` is one round of calls, `please-call NAME ARGS [ ;; NAME ARGS ...]`, ARGS sent
verbatim as the arguments text. A `please-call-forever ...` line is a round repeated forever.
Round R+1 is streamed when the request carries R rounds of tool results; past the last line the
reply is `answer: ` and the results of the last round, joined by ` | `.
"""
import json, time


def compact(value):
    """JSON as the vendors send it: no spaces."""
    return json.dumps(value, separators=(",", ":"))

CALL, FOREVER = "please-call ", "please-call-forever "


class Malformed(Exception):
    """A request a vendor would refuse with HTTP 400; the message says what is wrong."""


def text_of(content):
    """A message content as text: a string as it is, a list of blocks as the text of its text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def logged_content(message):
    """What the request log's `contents` holds for a message: a string as it is, anything else as its JSON text."""
    content = message.get("content", "") if isinstance(message, dict) else message
    return content if isinstance(content, str) else json.dumps(content)


def tool_names(body, anthropic):
    """The names of the tools a request offers (whatever of them can be read)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    names = []
    for t in tools:
        entry = t if anthropic else (t.get("function") if isinstance(t, dict) else None)
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            names.append(entry["name"])
    return names


def script_of(messages):
    """The rounds of the script: a list of `(forever, [(name, args), ...])`, or None without a script."""
    first = next((m["content"] for m in reversed(messages)
                  if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)), None)
    if first is None:
        return None
    rounds = []
    for line in first.split("\n"):
        line = line.rstrip("\r")
        forever = line.startswith(FOREVER)
        if not (forever or line.startswith(CALL)):
            continue
        calls = []
        for part in line[len(FOREVER if forever else CALL):].split(" ;; "):
            name, _, args = part.strip(" ").partition(" ")
            calls.append((name, args))
        rounds.append((forever, calls))
    return rounds or None


def has_calls(m, anthropic):
    """Whether a message is an assistant message carrying tool calls (`tool_calls`, or `tool_use` blocks)."""
    if m.get("role") != "assistant":
        return False
    if not anthropic:
        return bool(m.get("tool_calls"))
    content = m.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)


def rounds_done(messages, anthropic):
    """How many rounds of tool calls the conversation already holds."""
    return sum(1 for m in messages if has_calls(m, anthropic))


def last_results(messages, anthropic):
    """The texts of the last round's tool results."""
    if not anthropic:
        trailing = []
        for m in reversed(messages):
            if m.get("role") != "tool":
                break
            trailing.insert(0, text_of(m.get("content")))
        return trailing
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last is None or not isinstance(last.get("content"), list):
        return []
    return [text_of(b.get("content")) for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def plan(messages, anthropic):
    """What a scripted request gets: None (no script: the usual reply), `("call", round, calls)`,
    or `("answer", text)`."""
    rounds = script_of(messages)
    if rounds is None:
        return None
    done = rounds_done(messages, anthropic)
    forever = next((i for i, (f, _) in enumerate(rounds) if f), None)
    if forever is not None and done >= forever:
        return ("call", done + 1, rounds[forever][1])
    if done < len(rounds):
        return ("call", done + 1, rounds[done][1])
    return ("answer", "answer: " + " | ".join(last_results(messages, anthropic)))


def pieces(text):
    """`text` in pieces of 4 to 8 characters (the sizes cycle), as a model streams arguments."""
    out, i, k = [], 0, 0
    while i < len(text):
        size = 4 + k % 5
        out.append(text[i:i + size])
        i, k = i + size, k + 1
    return out


def openai_events(model, round_number, calls):
    """The SSE events of an OpenAI Chat Completions stream of tool calls, each a `data:` line."""
    base = {"id": "chatcmpl-fake-%d" % round_number, "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake"}

    def chunk(delta, finish=None):
        return "data: %s\n\n" % compact(dict(base, choices=[
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]))

    events = []
    for k, (name, args) in enumerate(calls):
        head = {"index": k, "id": "call_%d_%d" % (round_number, k), "type": "function",
                "function": {"name": name, "arguments": ""}}
        events.append(chunk(dict({"role": "assistant", "content": None} if k == 0 else {}, tool_calls=[head])))
        events += [chunk({"tool_calls": [{"index": k, "function": {"arguments": p}}]}) for p in pieces(args)]
    events.append(chunk({}, "tool_calls"))
    completion = 10 * len(calls)
    events.append("data: %s\n\n" % compact(dict(base, choices=[], usage={
        "prompt_tokens": 5, "completion_tokens": completion, "total_tokens": 5 + completion})))
    events.append("data: [DONE]\n\n")
    return events


def anthropic_events(model, round_number, calls):
    """The SSE events of an Anthropic Messages stream of tool_use blocks, each `event:` and `data:`."""
    def event(data):
        return "event: %s\ndata: %s\n\n" % (data["type"], compact(data))

    events = [event({"type": "message_start", "message": {
        "id": "msg_fake_%d" % round_number, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1}}})]
    for k, (name, args) in enumerate(calls):
        events.append(event({"type": "content_block_start", "index": k, "content_block": {
            "type": "tool_use", "id": "toolu_%d_%d" % (round_number, k), "name": name, "input": {}}}))
        events += [event({"type": "content_block_delta", "index": k,
                          "delta": {"type": "input_json_delta", "partial_json": p}}) for p in [""] + pieces(args)]
        events.append(event({"type": "content_block_stop", "index": k}))
    events.append(event({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                         "usage": {"output_tokens": 10 * len(calls)}}))
    events.append(event({"type": "message_stop"}))
    return events


def refusal(message, anthropic):
    """The JSON body of a 400 in the vendor's shape."""
    if anthropic:
        return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return {"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": None}}


def check(body, anthropic):
    """Raises Malformed if the request's tool calls, tool results or tools are not as the vendor
    requires. A request without any of them passes."""
    messages = body.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise Malformed("messages: must be a list of objects")
    used = (check_anthropic if anthropic else check_openai)(messages)
    tools = body.get("tools")
    if tools is None:
        if used:
            raise Malformed("tools: requests which carry tool calls or tool results must define tools")
        return
    if not isinstance(tools, list) or not tools:
        raise Malformed("tools: must be a non-empty list")
    for i, t in enumerate(tools):
        if anthropic:
            ok = isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("description"), str) \
                and isinstance(t.get("input_schema"), dict)
            if not ok:
                raise Malformed("tools.%d: must be {name, description, input_schema (an object)}" % i)
        else:
            f = t.get("function") if isinstance(t, dict) else None
            ok = isinstance(t, dict) and t.get("type") == "function" and isinstance(f, dict) \
                and isinstance(f.get("name"), str) and isinstance(f.get("description"), str) \
                and isinstance(f.get("parameters"), dict)
            if not ok:
                raise Malformed("tools[%d]: must be {type: \"function\", function: {name, description, parameters (an object)}}" % i)


def check_openai(messages):
    """OpenAI's rules: each assistant message with `tool_calls` is followed by one `tool` message
    per call (matching `tool_call_id`, string `content`) before any other message, and a `tool`
    message answers a call of the assistant message before it. Returns whether tools are used."""
    used, pending = False, None  # pending: the ids of the calls not yet answered, after an assistant message with calls
    for i, m in enumerate(messages):
        role = m.get("role")
        if role == "tool":
            used = True
            if pending is None:
                raise Malformed("messages[%d]: messages with role 'tool' must be a response to a preceding message with 'tool_calls'" % i)
            if not isinstance(m.get("content"), str):
                raise Malformed("messages[%d].content: a tool message's content must be a string" % i)
            if m.get("tool_call_id") not in pending:
                raise Malformed("messages[%d].tool_call_id: %s answers no call of the assistant message before it (open calls: %s)"
                                % (i, json.dumps(m.get("tool_call_id")), ", ".join(sorted(pending)) or "none"))
            pending.discard(m["tool_call_id"])
            continue
        if pending:
            raise Malformed("messages[%d]: an assistant message with 'tool_calls' must be followed by tool messages "
                            "responding to each 'tool_call_id'; these had none: %s" % (i - 1, ", ".join(sorted(pending))))
        pending = None
        if role == "assistant" and m.get("tool_calls") is not None:
            used = True
            calls = m["tool_calls"]
            if not isinstance(calls, list) or not calls:
                raise Malformed("messages[%d].tool_calls: must be a non-empty list" % i)
            pending = set()
            for k, c in enumerate(calls):
                f = c.get("function") if isinstance(c, dict) else None
                if not (isinstance(c, dict) and isinstance(c.get("id"), str) and c.get("type") == "function"
                        and isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("arguments"), str)):
                    raise Malformed("messages[%d].tool_calls[%d]: must be {id, type: \"function\", function: {name, arguments (a string)}}" % (i, k))
                pending.add(c["id"])
    if pending:
        raise Malformed("messages[%d]: an assistant message with 'tool_calls' must be followed by tool messages "
                        "responding to each 'tool_call_id'; these had none: %s" % (len(messages) - 1, ", ".join(sorted(pending))))
    return used


def check_anthropic(messages):
    """Anthropic's rules: the `tool_use` blocks of an assistant message (id, name, an object
    `input`) each have a `tool_result` block in the next message, a user message, whose tool_result
    blocks come first; a tool_result answers a tool_use of the message before it. Returns whether
    tools are used."""
    used, previous = False, set()  # previous: the tool_use ids of the message before
    for i, m in enumerate(messages):
        content = m.get("content")
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        results = [b for b in blocks if b.get("type") == "tool_result"]
        uses = [b for b in blocks if b.get("type") == "tool_use"]
        used = used or bool(results or uses)
        if results and m.get("role") != "user":
            raise Malformed("messages.%d: tool_result blocks may only be in a user message" % i)
        if uses and m.get("role") != "assistant":
            raise Malformed("messages.%d: tool_use blocks may only be in an assistant message" % i)
        answered, other = set(), False
        for k, b in enumerate(blocks):
            if b.get("type") != "tool_result":
                other = True
                continue
            if other:
                raise Malformed("messages.%d.content.%d: the tool_result blocks must come first in the message" % (i, k))
            c = b.get("content")
            content_ok = c is None or isinstance(c, str) or (isinstance(c, list) and all(
                isinstance(x, dict) and isinstance(x.get("type"), str) and (x["type"] != "text" or isinstance(x.get("text"), str))
                for x in c))
            if not isinstance(b.get("tool_use_id"), str) or not content_ok or not isinstance(b.get("is_error", False), bool):
                raise Malformed("messages.%d.content.%d: a tool_result must be {type, tool_use_id, content (a string or "
                                "a list of text blocks), is_error (a boolean, optional)}" % (i, k))
            if b["tool_use_id"] not in previous:
                raise Malformed("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each "
                                "`tool_result` block must have a corresponding `tool_use` block in the previous message."
                                % (i, k, b["tool_use_id"]))
            answered.add(b["tool_use_id"])
        if previous - answered:
            raise Malformed("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. "
                            "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                            % (i - 1, ", ".join(sorted(previous - answered))))
        for k, b in enumerate(uses):
            if not (isinstance(b.get("id"), str) and isinstance(b.get("name"), str) and isinstance(b.get("input"), dict)):
                raise Malformed("messages.%d: a tool_use block must be {type, id, name, input (an object)}" % i)
        previous = {b["id"] for b in uses}
    if previous:
        raise Malformed("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. "
                        "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                        % (len(messages) - 1, ", ".join(sorted(previous))))
    return used
