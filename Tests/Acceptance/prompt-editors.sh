#!/usr/bin/env bash
# Shell acceptance for saving `prompt` the way Unix tools save files: through a scratch file
# in the socket directory and a rename onto `prompt` (sed -i, perl -pi -e, Python's atomic
# write with tempfile + os.replace, vim -es with and without its backup copy). Each result is
# checked, and no scratch file may be left behind. Ends with "N passed, N failed".
#
#   bash Tests/Acceptance/prompt-editors.sh        # uses $AIFS or .build/debug/aifs
set -u
here=$(cd "$(dirname "$0")" && pwd)
AIFS=${AIFS:-$here/../../.build/debug/aifs}
M=$(mktemp -d /tmp/aifs-editors-XXXXXX)
STORE=$(mktemp -d /tmp/aifs-editors-store-XXXXXX)
export AIFS_STORE_PATH=$STORE/aifs.db
passed=0 failed=0
cleanup() {
  "$AIFS" unmount "$M" >/dev/null 2>&1 || umount -l "$M" 2>/dev/null
  rmdir "$M" 2>/dev/null; rm -rf "$STORE"
}
trap cleanup EXIT
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1"; echo "     expected: $(printf %q "$2")"; echo "     actual:   $(printf %q "$3")"; fi
}
files() { ls -a "$M/p" | tr '\n' ' '; }
ONLY=". .. chat context ctl error input output pending prompt transcript "

"$AIFS" mount "$M" -o allow_other >/dev/null || { echo "mount failed"; echo "0 passed, 1 failed"; exit 1; }   # allow_other: another user looks too
mkdir "$M/p" && chmod 755 "$M/p"   # whatever the umask: another user may look in
echo 'You are terse.' > "$M/p/prompt"

sed -i 's/terse/verbose/' "$M/p/prompt"; rc=$?
check "sed -i edits prompt" "rc=0 You are verbose." "rc=$rc $(cat "$M/p/prompt")"
check "sed -i leaves no scratch file" "$ONLY" "$(files)"

perl -pi -e 's/verbose/kind/' "$M/p/prompt"; rc=$?
check "perl -pi -e edits prompt" "rc=0 You are kind." "rc=$rc $(cat "$M/p/prompt")"
check "perl leaves no scratch file" "$ONLY" "$(files)"

python3 - "$M/p" <<'PY'; rc=$?
import os, sys, tempfile
d = sys.argv[1]
fd, tmp = tempfile.mkstemp(dir=d, prefix=".prompt-")
with os.fdopen(fd, "w") as f:
    f.write("Written atomically by Python.\n")
    f.flush(); os.fsync(f.fileno())
os.replace(tmp, os.path.join(d, "prompt"))
PY
check "Python tempfile + os.replace sets prompt" "rc=0 Written atomically by Python." "rc=$rc $(cat "$M/p/prompt")"
check "Python leaves no scratch file" "$ONLY" "$(files)"

(cd /tmp && timeout 30 vim -es -u NONE -c '%s/Python/vim/' -c 'wq' "$M/p/prompt"); rc=$?
check "vim -es edits prompt" "rc=0 Written atomically by vim." "rc=$rc $(cat "$M/p/prompt")"
(cd /tmp && timeout 30 vim -es -u NONE -c 'set backup writebackup backupdir=.' -c '%s/vim/vim with a backup/' -c 'wq' "$M/p/prompt"); rc=$?
check "vim -es with a backup copy edits prompt" "rc=0 Written atomically by vim with a backup." "rc=$rc $(cat "$M/p/prompt")"
rm -f "$M/p/prompt~"   # vim's 'backup' keeps its copy by design; it is a scratch file, and goes
check "vim leaves no scratch file" "$ONLY" "$(files)"

check "each rename onto prompt took a before-prompt snapshot" "3" "$(ls "$M/snapshots" | grep -c '^before-prompt-')"
check "the snapshot holds the prompt before the rename" "You are terse." \
  "$(cat "$M/snapshots/$(ls "$M/snapshots" | grep '^before-prompt-' | sort | head -1)/sockets/p/prompt" 2>/dev/null)"

# Scratch files are their creator's: mode 0600, bounded, gone with rm.
echo draft > "$M/p/notes.tmp"
check "a scratch file is 0600" "600" "$(stat -c %a "$M/p/notes.tmp")"
check "it is listed to its owner" "1" "$(ls "$M/p" | grep -c '^notes.tmp$')"
check "and no other user sees it" "ls: cannot access '$M/p/notes.tmp': No such file or directory" \
  "$(LC_ALL=C setpriv --reuid=65534 --regid=65534 --clear-groups ls "$M/p/notes.tmp" 2>&1)"
check "nor in its listing (which that user can read)" "chat context ctl error input output pending prompt transcript " \
  "$(setpriv --reuid=65534 --regid=65534 --clear-groups ls "$M/p" | tr '\n' ' ')"
check "mv onto another of the socket's files is refused" "1" "$(mv "$M/p/notes.tmp" "$M/p/input" 2>/dev/null; echo $?)"
rm "$M/p/notes.tmp"
check "rm removes it" "$ONLY" "$(files)"
head -c 2000000 /dev/zero > "$M/p/big.tmp" 2>/dev/null; rc=$?
check "a scratch file over prompt_bytes is refused (EFBIG)" "1" "$rc"
rm -f "$M/p/big.tmp"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
