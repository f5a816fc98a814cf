#!/usr/bin/env bash
# Long conversations: numbered exchanges, a fork at one of them, compact and uncompact.
#   examples/long-talk.sh [MOUNTPOINT]
# With the offline `echo` model the "summary" is the instruction echoed back; a real model
# writes a summary of the turns it replaces.
set -euo pipefail
AI=${1:-/ai}
mkdir "$AI/talk"
trap 'rm -r "$AI/talk" "$AI/side" 2>/dev/null; true' EXIT
for q in "My name is Ada." "I like trains." "I live in Leeds." "What do I like?"; do
    echo "$q" > "$AI/talk/input"; cat "$AI/talk/output" >/dev/null
done
echo "--- the exchanges, numbered in the transcript"
grep -o '^\[team-chat-from-talk\] [^ ]* #[0-9]*' "$AI/talk/transcript" | cut -d' ' -f1,3

echo "fork side 2" > "$AI/talk/ctl"               # a socket whose conversation is exchanges 1-2
grep '^forked-from:' "$AI/side/ctl"
echo "--- what side's model gets next"
cat "$AI/side/context"

echo compact > "$AI/talk/ctl"                     # the oldest turns become a summary...
echo "Where do I live?" > "$AI/talk/input"; cat "$AI/talk/output" >/dev/null
echo "--- talk's context after compact: $(grep -c '^\[user\]' "$AI/talk/context") user turns"
head -n 2 "$AI/talk/context"
grep -c '^\[compacted ' "$AI/talk/transcript"     # ...and the transcript still has every turn

echo uncompact > "$AI/talk/ctl"                   # every turn back from the transcript
echo "--- after uncompact: $(grep -c '^\[user\]' "$AI/talk/context") user turns"
