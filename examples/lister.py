#!/usr/bin/env python3
"""A tiny model for the exec provider that calls a tool (docs/tools.md, "exec"): asked anything,
it lists the socket's working directory with the `list` tool, then answers with what it saw.

It reads the JSON-lines protocol on stdin; a `{"tool_call": …}` line on stdout calls a tool."""
import json
import sys

lines = [json.loads(line) for line in sys.stdin]
results = [line for line in lines if line.get("role") == "tool"]
if results:
    names = [row.split()[-1] for row in results[-1]["content"].splitlines()[1:]]
    shown = [name for name in names if name not in (".", "..")]
    print("This directory holds: " + ", ".join(shown))
else:
    print(json.dumps({"tool_call": {"name": "list", "arguments": {"path": "."}}}))
