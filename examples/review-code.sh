#!/usr/bin/env bash
# Two reviewers read the same diff at once: git diff | tee a/input b/input, then both answers.
#   examples/review-code.sh [MOUNTPOINT] [REPO]
# REPO defaults to the current directory when it is a git work tree with uncommitted changes;
# otherwise the script makes a small throwaway repository with one change to review.
set -euo pipefail
AI=${1:-/ai}
REPO=${2:-.}
work=$(mktemp -d)
mkdir "$AI/bugs" "$AI/style"
trap 'rm -r "$AI/bugs" "$AI/style"; rm -rf "$work"' EXIT
if ! git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1 || git -C "$REPO" diff --quiet; then
    REPO=$work/demo
    git init -q "$REPO"
    printf 'def add(a, b):\n    return a + b\n' > "$REPO/calc.py"
    git -C "$REPO" add calc.py
    git -C "$REPO" -c user.name=demo -c user.email=demo@example.com commit -qm "add()"
    printf 'def add(a, b):\n    return a - b\n' > "$REPO/calc.py"
fi
echo "You review code for bugs. Answer with a list." > "$AI/bugs/prompt"
echo "You review code for style and naming. Answer with a list." > "$AI/style/prompt"
# One message per socket: tee opens both inputs, writes the whole diff, then closes them.
{ echo "Review this change:"; git -C "$REPO" diff; } | tee "$AI/bugs/input" "$AI/style/input" >/dev/null
# Collect both answers at the same time; each cat ends when its reviewer is done.
cat "$AI/bugs/output" > "$work/bugs" & bugs=$!
cat "$AI/style/output" > "$work/style" & style=$!
wait $bugs $style
for reviewer in bugs style; do
    echo "== $reviewer =="
    cat "$work/$reviewer"
done
