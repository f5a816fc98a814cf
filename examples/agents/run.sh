#!/usr/bin/env bash
# Sandboxed agents (docs/agents.md): a web-bridge agent fetches a URL through its `network`
# file (it has no network of its own), and a router agent reads /ai/directory and forwards each
# question to the socket whose capabilities fit. Needs bubblewrap (/usr/bin/bwrap).
#
#   examples/agents/run.sh [MOUNTPOINT]   (ignored: it mounts a private aifs of its own)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
AIFS=${AIFS:-aifs}; command -v "$AIFS" >/dev/null || AIFS=$here/../../.build/debug/aifs
D=$(mktemp -d); chmod 755 "$D"; AI=$D/ai; mkdir -p "$AI" "$D/site"
echo 'hello from the example server' > "$D/site/hello.txt"
# A web server on loopback, outside the sandbox: the only place the web bridge may reach.
python3 -m http.server 0 --bind 127.0.0.1 --directory "$D/site" > "$D/server.log" 2>&1 & server=$!
trap 'kill $server 2>/dev/null; "$AIFS" unmount "$AI" >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
until port=$(grep -o 'port [0-9]*' "$D/server.log" | cut -d' ' -f2) && [ -n "$port" ]; do sleep 0.05; done
cat > "$D/config.toml" <<CONFIG
[agents.web]
command = ["/usr/bin/python3", "$here/web_bridge.py"]
description = "fetches a URL"
capabilities = ["web"]
network_allow = ["GET http://127.0.0.1:$port"]
network_rate = "10/s"

[agents.router]
command = ["/usr/bin/python3", "$here/router.py"]
description = "forwards each question to the socket that can answer it"
capabilities = ["routing"]
sockets = ["web", "poet"]      # bound into its /ai; nothing else of the mount is
CONFIG
"$AIFS" mount "$AI" --config "$D/config.toml" --store memory >/dev/null

mkdir "$AI/web" "$AI/poet"                       # [agents.web] makes web an agent socket
echo 'set capabilities poems' > "$AI/poet/ctl"   # poet: a plain (echo) model socket
mkdir "$AI/router"                               # after the sockets it is granted
echo "http://127.0.0.1:$port/hello.txt" > "$AI/web/input"
cat "$AI/web/output"                             # hello from the example server
echo "--- refused: not in network_allow"
echo "http://example.com/" > "$AI/web/input"
cat "$AI/web/output"
echo "--- the directory"
python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["sockets"]: print(s["name"], s["kind"], ",".join(s["capabilities"]))' "$AI/directory"
echo "--- through the router"
echo "web: http://127.0.0.1:$port/hello.txt" > "$AI/router/input"
cat "$AI/router/output"                          # [routed to web] hello from the example server
echo "poems: a line about pipes" > "$AI/router/input"
cat "$AI/router/output"                          # [routed to poet] a line about pipes
rmdir "$AI/router" "$AI/web" "$AI/poet"
