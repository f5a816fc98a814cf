#!/usr/bin/env bash
# Ask one AI socket a question and print the answer.
#   examples/hello.sh [MOUNTPOINT]        (default /ai; mount first with ./mount)
set -euo pipefail
AI=${1:-/ai}
[ -d "$AI/hello" ] || mkdir "$AI/hello"
echo "Hello from $(whoami)! What is a file?" > "$AI/hello/input"
cat "$AI/hello/output"          # blocks while the reply is pending, streams it, then EOF
rm -r "$AI/hello"
