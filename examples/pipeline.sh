#!/usr/bin/env bash
# Pipelines two ways: a persistent wire (draft -> critic -> editor) and a plain shell pipe.
#   examples/pipeline.sh [MOUNTPOINT]
set -euo pipefail
AI=${1:-/ai}
mkdir "$AI/draft" "$AI/critic" "$AI/editor"
trap 'rm -r "$AI/draft" "$AI/critic" "$AI/editor"' EXIT

# A wire sends each finished reply to the next socket's input; the reader of the last output
# waits while anything upstream still works.
echo "wire critic" > "$AI/draft/ctl"
echo "wire editor" > "$AI/critic/ctl"
echo "Write a haiku about files." > "$AI/draft/input"
echo "--- wired: editor says"
cat "$AI/editor/output"
echo "wire draft" > "$AI/editor/ctl" 2>/dev/null || echo "--- a loop is refused: $(tail -n 1 "$AI/editor/error" | cut -d' ' -f3-)"

# The same with plain shell tools, one step at a time.
echo unwire > "$AI/draft/ctl"; echo unwire > "$AI/critic/ctl"
echo "Write a limerick about pipes." > "$AI/draft/input"
cat "$AI/draft/output" > "$AI/critic/input"
cat "$AI/critic/output" > "$AI/editor/input"
echo "--- piped: editor says"
cat "$AI/editor/output"
