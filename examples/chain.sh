#!/usr/bin/env bash
# A pipeline of AIs: the writer's answer becomes the editor's question.
#   examples/chain.sh [MOUNTPOINT]
set -euo pipefail
AI=${1:-/ai}
mkdir "$AI/writer" "$AI/editor"
trap 'rm -r "$AI/writer" "$AI/editor"' EXIT
echo "You are terse." > "$AI/editor/prompt"          # a system prompt is a file too
echo "Draft one sentence about pipes." > "$AI/writer/input"
cat "$AI/writer/output" > "$AI/editor/input"         # one message: everything cat wrote
cat "$AI/editor/output"
tail -n 4 "$AI/editor/transcript"                    # the exchange, with its headers
