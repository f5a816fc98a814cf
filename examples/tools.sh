#!/usr/bin/env bash
# Tools: the AI judges, the tool executes. A model (examples/lister.py, an exec program, so no
# API key is needed) calls the `list` tool; the daemon runs it as you, in the socket's workdir,
# and sends the result back; `cat output` prints only the answer. Then a call that needs
# confirmation waits in pending/ until `aifs approve`.
#
#   examples/tools.sh [MOUNTPOINT]   (ignored: it mounts a private aifs of its own, with this config)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
AIFS=${AIFS:-aifs}; command -v "$AIFS" >/dev/null || AIFS=$here/../.build/debug/aifs
D=$(mktemp -d); AI=$D/ai; mkdir -p "$AI" "$D/work"; touch "$D/work/notes.txt" "$D/work/plan.md"
trap '"$AIFS" unmount "$AI" >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
cat > "$D/config.toml" <<CONFIG
[providers.lister]
kind = "exec"
command = ["python3", "$here/lister.py"]
[security]
require_confirm = ["^list "]   # every list call waits for a human (just to show pending/)
CONFIG
"$AIFS" mount "$AI" --config "$D/config.toml" --store memory >/dev/null

mkdir "$AI/l"
printf 'model lister\ntools list\nset workdir %s\nsecurity trusted\n' "$D/work" > "$AI/l/ctl"
echo 'what is here?' > "$AI/l/input"
cat "$AI/l/output"                                # This directory holds: notes.txt, plan.md
grep -A1 '^\[tool-call' "$AI/l/transcript" | head -2

echo '--- in normal mode, the same call waits for you'
echo 'security normal' > "$AI/l/ctl"
echo 'and now?' > "$AI/l/input"
until [ -e "$AI/l/pending/2.1" ]; do sleep 0.05; done
"$AIFS" pending -m "$AI"
"$AIFS" approve 2.1 -m "$AI"
cat "$AI/l/output"
