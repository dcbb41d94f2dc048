#!/usr/bin/env bash
# The Node module's tests (comfy-node/): npm dependencies (npm ci, cached by npm), the debug
# native module (plain cargo: it reuses target/debug from the cargo tests), native.d.ts and
# native.js regenerated from the Rust code and checked against the committed ones, tsc --noEmit
# over the declarations and the TypeScript example, then node --test.
#
#   bash scripts/test-node.sh         # the fake-ComfyUI tier (builds comfy-fake)
#   bash scripts/test-node.sh e2e     # the real-ComfyUI tests only (COMFYUI_E2E_URL must be set)
#
# Needs Node >= 20 and npm (the registry once; later runs use npm's cache).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
mode="${1:-fake}"
say() { printf '[test-node] %s\n' "$*" >&2; }

case "$mode" in
  fake | e2e) ;;
  *) echo "usage: $0 [fake|e2e]" >&2; exit 2 ;;
esac

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "Node >= 20 is needed (found $(node --version))" >&2
  exit 1
fi

cd comfy-node
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

if [ "$mode" = "e2e" ]; then
  : "${COMFYUI_E2E_URL:?COMFYUI_E2E_URL must point at a running ComfyUI}"
  [ -n "$(ls comfy.*.node 2>/dev/null)" ] || node scripts/build-native.cjs
  say "node --test __test__/real-comfyui.test.mjs against $COMFYUI_E2E_URL"
  node --test --test-concurrency=1 __test__/real-comfyui.test.mjs
  exit 0
fi

say "native module (debug) and its generated declarations"
node scripts/build-native.cjs --types
if ! git diff --exit-code -- native.d.ts native.js; then
  echo "native.d.ts / native.js are out of date: commit the regenerated files" >&2
  exit 1
fi

say "tsc --noEmit (index.d.ts, native.d.ts, __test__/types.ts, examples/node/generate.ts)"
npx --no-install tsc --noEmit -p tsconfig.json

say "comfy-fake and comfy-mcp binaries (the embedded server's tool profiles are compared with comfy-mcp's)"
(cd .. && cargo build -p comfy-mcp -p comfy-fake --bins)
target="${CARGO_TARGET_DIR:-$PWD/../target}"
export COMFY_FAKE_BIN="${COMFY_FAKE_BIN:-$target/debug/comfy-fake}"
export COMFY_MCP_BIN="${COMFY_MCP_BIN:-$target/debug/comfy-mcp}"

say "node --test (fake tier: every test file but the real-ComfyUI one)"
mapfile -t fake_tests < <(ls __test__/*.test.mjs | grep -v real-comfyui)
env -u COMFYUI_E2E_URL node --test "${fake_tests[@]}"
