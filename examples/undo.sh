#!/usr/bin/env bash
# Undo: take a snapshot, break things (reset, rm -r), and restore.
#   examples/undo.sh [MOUNTPOINT]
set -euo pipefail
AI=${1:-/ai}
mkdir "$AI/notes"
trap 'rm -r "$AI/notes" 2>/dev/null; rm -r "$AI/snapshots/good" 2>/dev/null; true' EXIT
echo "Remember: the launch is on Friday." > "$AI/notes/input"; cat "$AI/notes/output" >/dev/null
mkdir "$AI/snapshots/good"                         # a named snapshot, read-only
cat "$AI/snapshots/good/metadata.json"

rm -r "$AI/notes"                                  # oops (a before-rmdir snapshot is taken first)
ls "$AI/snapshots"                                 # good, before-rmdir-TIME
echo "restore good" > "$AI/ctl"                    # everything as it was
echo "--- notes is back; its transcript:"
grep -c '^\[team-chat-' "$AI/notes/transcript"
tail -n 2 "$AI/notes/transcript"
for s in $(ls "$AI/snapshots" | grep -v '^good$'); do rm -r "$AI/snapshots/$s"; done
