#!/usr/bin/env bash
# A team chat: one question to every active socket, every reply collected, then a directed
# follow-up, a moderated round, a race and a fallback chain.
#   examples/team-chat.sh [MOUNTPOINT]
set -euo pipefail
AI=${1:-/ai}
mkdir "$AI/alice" "$AI/bob" "$AI/carol"
trap 'rm -r "$AI/alice" "$AI/bob" "$AI/carol"; printf "moderator none\nmode fanout\n" > "$AI/team-chat-all/ctl"' EXIT
grep '^members:' "$AI/team-chat-all/ctl"                   # who a broadcast reaches

echo "What should we name the project?" > "$AI/team-chat-all/input"
cat "$AI/team-chat-all/output"                             # one [team-chat-from-NAME] block each, then EOF

# Only some of them: leading [team-chat-to-NAME] headers.
printf '[team-chat-to-bob][team-chat-to-carol] Second opinions?\n' > "$AI/team-chat-all/input"
cat "$AI/team-chat-all/output"

# A moderator reads every reply and answers last with a synthesis.
echo "state inactive" > "$AI/carol/ctl"                    # carol only moderates
echo "moderator carol" > "$AI/team-chat-all/ctl"
echo "Pick one name." > "$AI/team-chat-all/input"
cat "$AI/team-chat-all/output"                             # (echo repeats the synthesis request itself)

# A race: everyone at once, the first whole answer wins and the others are cancelled.
echo "moderator none" > "$AI/team-chat-all/ctl"
echo "model echo/slow" > "$AI/alice/ctl"                   # alice takes her time
echo "mode race" > "$AI/team-chat-all/ctl"
echo "Quick, a name!" > "$AI/team-chat-all/input"
cat "$AI/team-chat-all/output"                             # bob's reply, then: [team-chat-from-alice] [cancelled] lost the race to bob

# A fallback chain: ask nobody (no such socket: skipped), then bob; alice only if bob fails.
echo "mode fallback nobody,bob,alice" > "$AI/team-chat-all/ctl"
echo "Your best name?" > "$AI/team-chat-all/input"
cat "$AI/team-chat-all/output"                             # [team-chat-from-nobody] [error] no socket named nobody; skipped, then bob
