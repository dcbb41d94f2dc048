#!/usr/bin/env bash
# test-python.sh — the Python extension (comfy-py): build it into a cached venv, type-check it,
# run its pytest suite.
#
#   scripts/test-python.sh        # fake tier: maturin develop (debug), mypy --strict on the
#                                 # package, its stubs and examples/python, stubtest, then
#                                 # pytest comfy-py/tests against the comfy-fake binary
#   scripts/test-python.sh e2e    # real tier: pytest comfy-py/tests/e2e against the ComfyUI at
#                                 # $COMFYUI_E2E_URL (required: an unset URL is an error)
#
# The venv comes from scripts/python-env.sh with comfy-py/requirements-dev.txt (exact pins,
# cached). The comfy-fake and comfy-mcp binaries are $COMFY_FAKE_BIN and $COMFY_MCP_BIN, else
# built here (cargo build -p comfy-fake -p comfy-mcp).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

MODE="${1:-fake}"
case "$MODE" in fake | e2e) ;; *) echo "usage: $0 [fake|e2e]" >&2; exit 2 ;; esac

if [ "$MODE" = "e2e" ] && [ -z "${COMFYUI_E2E_URL:-}" ]; then
  echo "ERROR: COMFYUI_E2E_URL is not set (scripts/test.sh sets it in its end-to-end tier)" >&2
  exit 1
fi

PY="$(scripts/python-env.sh comfy-py/requirements-dev.txt)"
VENV="$(dirname "$(dirname "$PY")")"

step "comfy-py: maturin develop (debug) into $VENV"
VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --quiet -m comfy-py/Cargo.toml

# pytest exit code 5 means no test was collected: with this suite that is a broken setup.
run_pytest() {
  local rc=0
  (cd comfy-py && "$PY" -m pytest -q "$@") || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "ERROR: pytest collected no tests in comfy-py ($*)" >&2
    return 1
  fi
  return "$rc"
}

if [ "$MODE" = "e2e" ]; then
  step "comfy-py: pytest against the real ComfyUI at $COMFYUI_E2E_URL"
  run_pytest tests/e2e
  exit 0
fi

step "comfy-py: mypy --strict (package, stubs, examples/python) and stubtest (_native.pyi vs the module)"
MYPY=("$PY" -m mypy --config-file comfy-py/pyproject.toml --cache-dir "$VENV/.mypy_cache")
"${MYPY[@]}" -p comfy_rs
"${MYPY[@]}" examples/python
"$PY" -m mypy.stubtest comfy_rs._native --allowlist comfy-py/stubtest-allowlist.txt

# comfy-mcp: the embedded server's tool profiles are compared with the binary's.
if [ -z "${COMFY_FAKE_BIN:-}" ] || [ -z "${COMFY_MCP_BIN:-}" ]; then
  cargo build -p comfy-fake -p comfy-mcp --bins
  TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
  COMFY_FAKE_BIN="${COMFY_FAKE_BIN:-$TARGET/debug/comfy-fake}"
  COMFY_MCP_BIN="${COMFY_MCP_BIN:-$TARGET/debug/comfy-mcp}"
fi
export COMFY_FAKE_BIN COMFY_MCP_BIN
step "comfy-py: pytest against comfy-fake"
run_pytest tests --ignore=tests/e2e
