#!/usr/bin/env bash
# Shell acceptance for tools: a model (the fake server in Tests/MountTests, which calls the tools
# a message's `please-call NAME ARGS` lines name) runs bash, read, write and ask through a real
# mount, with confirmation through pending/ and ctl, exactly as a user would drive it: echo,
# cat, grep, tee, timeout, python3 and the aifs command. Prints one line per check and ends with
# "N passed, N failed"; exits non-zero if any check failed. Nothing destructive runs: files
# live in a temp directory.
#
#   bash Tests/Acceptance/tools.sh            # uses $AIFS or .build/debug/aifs
set -u
here=$(cd "$(dirname "$0")" && pwd)
AIFS=${AIFS:-$here/../../.build/debug/aifs}
D=$(mktemp -d /tmp/aifs-tools-XXXXXX)
M=$D/mnt; W=$D/work; mkdir -p "$M" "$W"
passed=0 failed=0

cleanup() {
  "$AIFS" unmount "$M" >/dev/null 2>&1 || umount -l "$M" 2>/dev/null
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; echo "     expected: $(printf %q "$2")"; echo "     actual:   $(printf %q "$3")"
  fi
}
appears() {  # waits until the file exists (the caller's timeout bounds a failure)
  until [ -e "$1" ]; do sleep 0.01; done
}

mkfifo "$D/ready"
python3 "$here/../MountTests/fake_model_server.py" "$D/port" "$D/requests.log" --ready "$D/ready" & SERVER=$!
read -r PORT < "$D/ready"
cat > "$D/config.toml" <<EOF
[providers.fake]
kind = "openai"
base_url = "http://127.0.0.1:$PORT/v1"
models = ["m"]
[store]
path = "$D/store/aifs.db"
[tools.shout]
description = "Upper-cases a text"
command = ["tr", "a-z", "A-Z"]
[tools.shout.parameters]
type = "object"
required = ["text"]
[tools.shout.parameters.properties.text]
type = "string"
EOF
"$AIFS" mount "$M" --config "$D/config.toml" >/dev/null || { echo "mount failed"; echo "0 passed, 1 failed"; exit 1; }

# 1. /ai/tools lists the built-ins and the configured tool; a socket enables some of them
check "/ai/tools names every tool" "bash read write list ask shout" \
  "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["name"] for l in open(sys.argv[1])))' "$M/tools")"
mkdir "$M/ops"
printf 'model fake/m\ntools bash,read,write,shout\nset workdir %s\n' "$W" > "$M/ops/ctl"
check "ctl shows the tools" "tools: bash,read,write,shout" "$(grep '^tools:' "$M/ops/ctl")"
check "an unknown tool is EINVAL" "refused" "$(echo 'tools bash,nosuch' > "$M/ops/ctl" 2>/dev/null || echo refused)"

# 2. a tool call and its answer; cat prints only the answer; the transcript keeps the call
echo 'please-call bash {"command": "echo hi from bash"}' > "$M/ops/input"
check "cat output is the answer" "answer: hi from bash" "$(timeout 10 cat "$M/ops/output")"
check "the transcript has the call and its result" "1 1" \
  "$(grep -c '^\[tool-call 1.1 bash\] ' "$M/ops/transcript") $(grep -c '^\[tool-result 1.1 exit 0\] ' "$M/ops/transcript")"
echo 'please-call shout {"text": "quiet"}' | tee "$M/ops/input" >/dev/null
check "a configured tool gets its arguments on stdin" 'answer: {"TEXT": "QUIET"}' "$(timeout 10 cat "$M/ops/output")"

# 3. a call that needs confirmation waits in pending/; aifs pending lists it; aifs approve runs it
echo 'please-call bash {"command": "sudo -n true 2>/dev/null; echo confirmed"}' > "$M/ops/input"
appears "$M/ops/pending/3.1"
check "pending/ID says what waits" "tool: bash" "$(grep '^tool:' "$M/ops/pending/3.1")"
check "aifs pending lists it" "ops/3.1" "$("$AIFS" pending -m "$M" | cut -f1)"
check "output is not readable meanwhile" "False" \
  "$(python3 -c 'import os,select,sys; fd=os.open(sys.argv[1], os.O_RDONLY|os.O_NONBLOCK); print(bool(select.select([fd],[],[],0)[0]))' "$M/ops/output")"
"$AIFS" approve 3.1 -m "$M"
check "approved, it ran" "answer: confirmed" "$(timeout 10 cat "$M/ops/output")"
# (harmless even if it ran: it only prints systemd's version)
echo 'please-call bash {"command": "systemctl --version"}' > "$M/ops/input"
appears "$M/ops/pending/4.1"
echo 'deny 4.1 not now' > "$M/ops/ctl"
check "denied, the model is told why" "answer: denied by the user: not now" "$(timeout 10 cat "$M/ops/output")"

# 4. write changes a file; undo puts it back byte for byte
printf 'keep\nme\n' > "$W/notes.txt"; cp "$W/notes.txt" "$D/notes.orig"
echo 'please-call write {"path": "notes.txt", "content": "overwritten"}' > "$M/ops/input"
timeout 10 cat "$M/ops/output" >/dev/null
check "write wrote" "overwritten" "$(cat "$W/notes.txt")"
"$AIFS" undo ops/5.1 -m "$M"   # returns once the file is back
check "aifs undo restores the file" "same" "$(cmp -s "$W/notes.txt" "$D/notes.orig" && echo same)"
check "the transcript says so" "1" "$(grep -c '^\[undo 5.1\] ' "$M/ops/transcript")"

# 5. read of a missing file: an error result the model sees, a line in error
echo 'please-call read {"path": "missing.txt"}' > "$M/ops/input"
check "a failed read reaches the model" "1" "$(timeout 10 cat "$M/ops/output" | grep -c 'No such file or directory')"
check "and error says so" "1" "$(grep -c 'tool call 6.1 exit 1' "$M/ops/error")"

# 6. ask: one AI hands a subtask to another
mkdir "$M/helper"; echo 'model fake/m' > "$M/helper/ctl"
mkdir "$M/lead"; printf 'model fake/m\ntools ask\n' > "$M/lead/ctl"
echo 'please-call ask {"socket": "helper", "message": "please-say 42"}' > "$M/lead/input"
check "lead uses helper's reply" "answer: 42" "$(timeout 10 cat "$M/lead/output")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
