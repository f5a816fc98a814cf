#!/usr/bin/env bash
# Ask two sockets the same question with tee, then compare their answers with diff.
#   examples/fan-out.sh [MOUNTPOINT]
set -euo pipefail
AI=${1:-/ai}
mkdir "$AI/left" "$AI/right"
trap 'rm -r "$AI/left" "$AI/right"' EXIT
echo "Name three Unix tools that read standard input." | tee "$AI/left/input" "$AI/right/input" >/dev/null
if diff <(cat "$AI/left/output") <(cat "$AI/right/output"); then
    echo "left and right agree"
else
    echo "left and right differ (above)"
fi
