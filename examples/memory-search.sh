#!/usr/bin/env bash
# Everything said is remembered and searchable: ask two sockets something, then search memory.
#   examples/memory-search.sh [MOUNTPOINT]
# Memory is shared by all sockets and outlives them; each hit is ID TIME SOCKET KIND snippet.
# A word unique to this run (RUN) keeps older memories of the same topics out of the results.
set -euo pipefail
AI=${1:-/ai}
RUN=run$$x$RANDOM
mkdir "$AI/ops" "$AI/dev"
trap 'rm -r "$AI/ops" "$AI/dev"' EXIT
echo "How do I install nginx on Debian? ($RUN)" > "$AI/ops/input"
echo "How do I reload nginx without downtime? ($RUN)" > "$AI/dev/input"
cat "$AI/ops/output" "$AI/dev/output" >/dev/null        # once shown, an exchange is searchable
echo "-- $RUN nginx: plain words must all match"
cut -f3-5 "$AI/memory/search/$RUN nginx" | sort
echo "-- \"install nginx\": an exact phrase"
cut -f3,4 "$AI/memory/search/$RUN \"install nginx\"" | sort
echo "-- reload OR install, then only what the dev socket saw (column 3)"
awk -F'\t' '$3 == "dev"' "$AI/memory/search/$RUN AND (reload OR install)" | cut -f3,4 | sort
echo "-- down*: a prefix"
cut -f3,4 "$AI/memory/search/$RUN down*" | sort
