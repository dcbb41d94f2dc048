#!/usr/bin/env bash
# Downloads the official ComfyUI workflow templates (PyPI, MIT licence) and prints the directory
# that holds them, for the UI → API corpus test and benchmark:
#
#   COMFY_TEMPLATES_DIR="$(scripts/templates-corpus.sh)" \
#     cargo test -p comfy-core --features corpus --test ui_corpus -- --nocapture
#
# The workflow JSON files (and index.json) live in `comfyui-workflow-templates-json`;
# `comfyui-workflow-templates-core` holds only the manifest and loader, and the `-media-*`
# packages only thumbnails and example inputs, so only the `-json` wheel is needed.
# Wheels are cached in ${COMFY_TEMPLATES_CACHE:-$HOME/.cache/comfy-rs-templates}; versions are
# pinned (the ones comfyui-workflow-templates 0.11.97 depends on) and can be overridden.
set -Eeuo pipefail

CACHE="${COMFY_TEMPLATES_CACHE:-$HOME/.cache/comfy-rs-templates}"
JSON_VERSION="${COMFY_TEMPLATES_JSON_VERSION:-0.1.123}"
PACKAGE="comfyui-workflow-templates-json"
WHEEL_NAME="comfyui_workflow_templates_json-${JSON_VERSION}-py3-none-any.whl"
DEST="$CACHE/${PACKAGE}-${JSON_VERSION}"
TEMPLATES="$DEST/comfyui_workflow_templates_json/templates"

PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$PYTHON" ]; then
  echo "templates-corpus.sh: python3 with pip is needed to download the templates" >&2
  exit 1
fi

mkdir -p "$CACHE/wheels"
if [ ! -f "$CACHE/wheels/$WHEEL_NAME" ]; then
  echo "templates-corpus.sh: downloading ${PACKAGE}==${JSON_VERSION} into $CACHE/wheels" >&2
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$CACHE/wheels" "${PACKAGE}==${JSON_VERSION}" >&2
fi

if [ ! -f "$TEMPLATES/index.json" ]; then
  echo "templates-corpus.sh: unpacking $WHEEL_NAME" >&2
  rm -rf "$DEST.tmp"
  mkdir -p "$DEST.tmp"
  "$PYTHON" -m zipfile -e "$CACHE/wheels/$WHEEL_NAME" "$DEST.tmp"
  rm -rf "$DEST"
  mv "$DEST.tmp" "$DEST"
fi

if [ ! -f "$TEMPLATES/index.json" ]; then
  echo "templates-corpus.sh: $TEMPLATES/index.json is missing after unpacking" >&2
  exit 1
fi
echo "$TEMPLATES"
