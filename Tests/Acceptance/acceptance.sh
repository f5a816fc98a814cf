#!/usr/bin/env bash
# Shell acceptance for aifs: real bash, echo, cat, tee, rm -r, ls, tail -f, timeout and python3
# against a real mount, exactly as a user would type them. Prints one line per check and ends
# with "N passed, N failed". Exits non-zero if any check failed.
#
#   bash Tests/Acceptance/acceptance.sh            # uses $AIFS or .build/debug/aifs
set -u
here=$(cd "$(dirname "$0")" && pwd)
AIFS=${AIFS:-$here/../../.build/debug/aifs}
M=$(mktemp -d /tmp/aifs-accept-XXXXXX)
STORE=$(mktemp -d /tmp/aifs-accept-store-XXXXXX)
export AIFS_STORE_PATH=$STORE/aifs.db   # a store of its own, never the user's
passed=0 failed=0

cleanup() {
  "$AIFS" unmount "$M" >/dev/null 2>&1 || umount -l "$M" 2>/dev/null
  rmdir "$M" 2>/dev/null
  rm -rf "$STORE"
  rm -f /tmp/aifs-accept-$$.*
}
trap cleanup EXIT

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; echo "     expected: $(printf %q "$2")"; echo "     actual:   $(printf %q "$3")"
  fi
}

"$AIFS" mount "$M" >/dev/null || { echo "mount failed"; echo "0 passed, 1 failed"; exit 1; }

# 1. ask, read the answer, EOF afterwards
mkdir "$M/apollo"
echo hello > "$M/apollo/input"
check "echo > input; cat output" "hello" "$(timeout 5 cat "$M/apollo/output")"
check "second cat is EOF at once" "rc=0" "$(timeout 2 cat "$M/apollo/output"; echo "rc=$?")"

# 2. one message per open/close; >> appends a new message; a big file is one message
printf 'a\nb\n' > "$M/apollo/input"; printf c >> "$M/apollo/input"
check "replies in order, newline added" $'a\nb\nc' "$(timeout 5 cat "$M/apollo/output")"
seq 1 60000 > /tmp/aifs-accept-$$.big
cat /tmp/aifs-accept-$$.big > "$M/apollo/input"
check "300 kB written by cat is one message" "same" "$(timeout 10 cat "$M/apollo/output" | cmp -s - /tmp/aifs-accept-$$.big && echo same)"
check "transcript counts four messages" "4" "$(grep -c '^\[team-chat-to-apollo\]' "$M/apollo/transcript")"

# 3. tee to two sockets
mkdir "$M/a" "$M/b"
echo q | tee "$M/a/input" "$M/b/input" >/dev/null
check "tee to two inputs, cat both outputs" $'q\nq' "$(timeout 5 cat "$M/a/output" "$M/b/output")"

# 4. pipes compose: one socket's answer is another's question
echo "pipe me" > "$M/a/input"
timeout 5 cat "$M/a/output" > "$M/b/input"
check "cat a/output > b/input" "pipe me" "$(timeout 5 cat "$M/b/output")"

# 5. streaming: the first word of a slow reply arrives before the reply is done
echo 'model echo/slow' > "$M/a/ctl"
echo "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10" > "$M/a/input"
first=$(timeout 5 head -c 3 "$M/a/output")
check "first bytes while streaming" "w1 " "$first"
check "still in flight after first bytes" "in-flight: 1" "$(grep '^in-flight:' "$M/a/ctl")"
echo cancel > "$M/a/ctl"; timeout 5 cat "$M/a/output" >/dev/null; echo 'model echo' > "$M/a/ctl"

# 6. tail -f follows the transcript. coreutils polls a FUSE file once a second: the script waits
#    for events (tail has printed what was there; the new exchange shows up), and 30 s only
#    bounds a failure.
before=$(wc -l < "$M/b/transcript")
tail -n +1 -f "$M/b/transcript" > /tmp/aifs-accept-$$.tail & tailpid=$!
for i in $(seq 1 600); do [ "$(wc -l < /tmp/aifs-accept-$$.tail)" -ge "$before" ] && break; sleep 0.05; done
echo "followed-$$" > "$M/b/input"
for i in $(seq 1 600); do [ "$(grep -c "followed-$$" /tmp/aifs-accept-$$.tail)" -ge 2 ] && break; sleep 0.05; done
check "tail -f shows the exchange" "2" "$(grep -c "followed-$$" /tmp/aifs-accept-$$.tail)"
kill "$tailpid"; wait "$tailpid" 2>/dev/null

# 7. grep the transcript, ls, rename, remove
check "grep transcript" "3" "$(grep -c '^\[team-chat-from-b\]' "$M/b/transcript")"
mv "$M/a" "$M/c"
check "mv renames, history kept" "name: c" "$(grep '^name:' "$M/c/ctl")"
check "ls after mv" "apollo b c cluster ctl directory events memory metrics models snapshots team-chat-all tools" "$(ls "$M" | tr '\n' ' ' | sed 's/ $//')"
rm -r "$M/c"; rmdir "$M/b"
check "rm -r and rmdir" "apollo cluster ctl directory events memory metrics models snapshots team-chat-all tools" "$(ls "$M" | tr '\n' ' ' | sed 's/ $//')"
check "events: the mv and the removals, in order" "socket_renamed:c socket_deleted:c socket_deleted:b" \
    "$(python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; print(" ".join([x["type"]+":"+x["socket"] for x in e if x["type"] in ("socket_renamed","socket_deleted")][-3:]))' "$M/events" 2>&1)"
check "rmdir team-chat-all is EPERM" "Operation not permitted" "$(rmdir "$M/team-chat-all" 2>&1 | sed 's/.*: //')"
check "bad name is EINVAL" "Invalid argument" "$(mkdir "$M/bad!name" 2>&1 | sed 's/.*: //')"
check "existing name is EEXIST" "File exists" "$(mkdir "$M/apollo" 2>&1 | sed 's/.*: //')"

# 8. ctl: keys, bad command, reason in error
check "ctl shows model" "model: echo" "$(grep '^model:' "$M/apollo/ctl")"
echo bogus > "$M/apollo/ctl" 2>/dev/null
check "bad ctl command fails" "1" "$?"
check "reason in error" "ctl unknown command 'bogus'" "$(cut -d' ' -f2- "$M/apollo/error")"
check "error is consumed" "" "$(cat "$M/apollo/error")"

# 9. python: poll and O_NONBLOCK
mkdir "$M/py"; echo 'model echo/slow' > "$M/py/ctl"
check "python poll + EAGAIN" "EAGAIN [] True" "$(python3 - "$M" <<'PY'
import os, select, sys, errno
fd = os.open(sys.argv[1] + "/py/output", os.O_RDONLY | os.O_NONBLOCK)
with open(sys.argv[1] + "/py/input", "w") as f:
    f.write("x y\n")  # queued once close returns; echo/slow sends its first word later
try:
    os.read(fd, 10); r = "read"
except BlockingIOError:
    r = "EAGAIN"
p = select.poll(); p.register(fd, select.POLLIN)
print(r, p.poll(0), bool(p.poll(5000)[0][1] & select.POLLIN))
PY
)"

# 10. team chat: broadcast to every active socket, directed sends, blocks collected until EOF
mkdir "$M/t1" "$M/t2" "$M/t3"; echo 'state inactive' > "$M/t3/ctl"
for s in $(ls "$M"); do   # leave only t1 and t2 active
  [ -f "$M/$s/prompt" ] && [ "$s" != t1 ] && [ "$s" != t2 ] && echo 'state inactive' > "$M/$s/ctl"
done
echo 'team question' > "$M/team-chat-all/input"
check "broadcast: one block per active socket, then EOF" "[team-chat-from-t1] [team-chat-from-t2] team question team question " \
  "$(timeout 10 cat "$M/team-chat-all/output" | sort | tr '\n' ' ')"
printf '[team-chat-to-t3] only you' > "$M/team-chat-all/input"
check "directed send reaches an inactive socket by name" "[team-chat-from-t3]|only you" "$(timeout 10 cat "$M/team-chat-all/output" | paste -sd'|')"
check "rmdir team-chat-all is refused" "EPERM" "$(rmdir "$M/team-chat-all" 2>/dev/null || echo EPERM)"

# 11. wire: a pipeline of AIs; the reader of the last output waits for the whole chain
mkdir "$M/w1" "$M/w2"; echo 'model echo/slow' > "$M/w1/ctl"
echo 'wire w2' > "$M/w1/ctl"
echo 'down the pipe' | tee "$M/w1/input" >/dev/null
check "wire w1 -> w2; cat w2/output waits for w1" "down the pipe" "$(timeout 10 cat "$M/w2/output")"
check "a loop is refused" "refused" "$(echo 'wire w1' > "$M/w2/ctl" 2>/dev/null && echo accepted || echo refused)"
echo unwire > "$M/w1/ctl"

# 12. unmount, remount on the same directory, kill -9 and remount
"$AIFS" unmount "$M" >/dev/null
check "unmount leaves a plain directory" "0" "$(grep -c " $M " /proc/mounts)"
"$AIFS" mount "$M" >/dev/null
pid=$(grep '^pid:' "$M/ctl" | cut -d' ' -f2); kill -9 "$pid"
# gone (or a zombie) before the remount: an event, not a fixed pause
for i in $(seq 1 600); do s=$(awk '/^State:/ {print $2}' /proc/$pid/status 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ] && break; sleep 0.05; done
"$AIFS" mount "$M" >/dev/null 2>&1
mkdir "$M/after"; echo back > "$M/after/input"
check "kill -9 then aifs mount works" "back" "$(timeout 5 cat "$M/after/output")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
