#!/usr/bin/env bash
# python-env.sh — a cached Python venv for the pytest suite (comfy-mcp/tests/python).
#
# Creates ${XDG_CACHE_HOME:-$HOME/.cache}/comfy-rs-py/<hash>/ with scripts/requirements-test.txt
# (or the requirements file given as the first argument, e.g. comfy-py/requirements-dev.txt)
# installed (exact pins), keyed by a hash of that file and the Python version, and prints the
# venv's python path on stdout — nothing else. Progress goes to stderr. A warm run only checks
# the stamp (well under a second).
#
#   PY="$(scripts/python-env.sh)" && "$PY" -m pytest comfy-mcp/tests/python
#
# Optional: COMFY_PY_PYTHON (default python3, 3.10 or newer).
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="${1:-$HERE/requirements-test.txt}"
PYTHON="${COMFY_PY_PYTHON:-python3}"
ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/comfy-rs-py"

log() { printf '[python-env] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -f "$REQ" ] || die "missing $REQ"
command -v "$PYTHON" >/dev/null 2>&1 || die "python not found: $PYTHON (set COMFY_PY_PYTHON)"
PY_ID="$("$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "need Python 3.10+"; print(sys.version.split()[0], sys.implementation.name)')" \
  || die "$PYTHON is not Python 3.10 or newer"
HASH="$({ cat "$REQ"; echo "python=$PY_ID"; } | sha256sum | cut -c1-16)"
VENV="$ROOT/$HASH"
VPY="$VENV/bin/python"

if [ -x "$VPY" ] && [ -f "$VENV/.complete" ]; then
  echo "$VPY"
  exit 0
fi

log "creating $VENV ($PY_ID)"
rm -rf "$VENV"
mkdir -p "$ROOT"
"$PYTHON" -m venv "$VENV" >&2 || die "python -m venv failed"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --quiet -r "$REQ" >&2 \
  || { rm -rf "$VENV"; die "pip install -r $REQ failed"; }
touch "$VENV/.complete"
log "ready"
echo "$VPY"
