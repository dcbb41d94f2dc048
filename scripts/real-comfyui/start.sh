#!/usr/bin/env bash
# start.sh DATA_DIR — start the real ComfyUI installed by setup.sh, on CPU, in the background.
#
# Everything the server writes goes under DATA_DIR (models, input, output, user, temp,
# custom_nodes, the SQLite database and comfyui.log), so parallel runs with different
# DATA_DIRs do not collide. Listens on 127.0.0.1 on a free port.
#
# On success prints exactly one line on stdout, the base URL (http://127.0.0.1:PORT), and
# leaves DATA_DIR/comfyui.pid and DATA_DIR/comfyui.url. Progress and errors go to stderr.
# Fails (non-zero) if the server dies or is not ready within ${COMFY_E2E_START_TIMEOUT:-120} s,
# printing the tail of DATA_DIR/comfyui.log. Stop it with stop.sh DATA_DIR.
set -Eeuo pipefail

log() { printf '[real-comfyui start] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: start.sh DATA_DIR"
CACHE="${COMFY_E2E_CACHE:-$HOME/.cache/comfy-rs-e2e}"
TIMEOUT="${COMFY_E2E_START_TIMEOUT:-120}"
VPY="$CACHE/venv/bin/python"
CKPT="$CACHE/checkpoints/tiny_sd15.safetensors"

[ -x "$VPY" ] && [ -s "$CACHE/comfyui-dir" ] && [ -s "$CKPT" ] \
  || die "no ComfyUI installed in $CACHE: run scripts/real-comfyui/setup.sh first"
COMFY="$(cat "$CACHE/comfyui-dir")"
[ -f "$COMFY/main.py" ] || die "$COMFY/main.py is missing: run scripts/real-comfyui/setup.sh again"

mkdir -p "$1"
DATA="$(cd "$1" && pwd)"
LOG="$DATA/comfyui.log"
PIDFILE="$DATA/comfyui.pid"
URLFILE="$DATA/comfyui.url"

if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  die "a ComfyUI is already running for $DATA (pid $(cat "$PIDFILE")); stop.sh it first"
fi
rm -f "$PIDFILE" "$URLFILE"

mkdir -p "$DATA"/{output,input,user,temp,models/checkpoints,custom_nodes}

# The tiny checkpoint: symlink, or copy where symlinks are not possible.
dst="$DATA/models/checkpoints/tiny_sd15.safetensors"
if [ ! -e "$dst" ]; then
  ln -sfn "$CKPT" "$dst" 2>/dev/null || cp -f "$CKPT" "$dst"
fi

# Keep ComfyUI's bundled custom node (SaveImageWebsocket): --base-directory moves the
# custom_nodes folder to DATA/custom_nodes, so link the bundled file there.
CUSTOM_ARGS=()
src="$COMFY/custom_nodes/websocket_image_save.py"
if [ -f "$src" ] && [ ! -e "$DATA/custom_nodes/websocket_image_save.py" ]; then
  ln -sfn "$src" "$DATA/custom_nodes/websocket_image_save.py" 2>/dev/null \
    || cp -f "$src" "$DATA/custom_nodes/websocket_image_save.py"
fi
# Trap: the vendored extra_model_paths.yaml (moved aside by setup.sh) makes startup die with
# FileNotFoundError. If it is back, run without custom nodes rather than fail.
if [ -f "$COMFY/extra_model_paths.yaml" ]; then
  log "WARNING: $COMFY/extra_model_paths.yaml exists; starting with --disable-all-custom-nodes"
  CUSTOM_ARGS=(--disable-all-custom-nodes)
fi

free_port() {
  "$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
  else
    "$VPY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2).read()' "$1" 2>/dev/null
  fi
}

tail_log() { log "last lines of $LOG:"; tail -n "${1:-40}" "$LOG" >&2 || true; }

T0=$(date +%s)
for attempt in 1 2 3; do
  PORT="$(free_port)" || die "cannot pick a free port"
  URL="http://127.0.0.1:$PORT"
  log "starting ComfyUI at $URL (data $DATA, log $LOG)"
  printf '=== start.sh %s: %s main.py on port %s (attempt %s)\n' "$(date -Is)" "$VPY" "$PORT" "$attempt" >>"$LOG"
  LOG_OFFSET=$(wc -c <"$LOG")
  (
    cd "$COMFY"
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    exec "$VPY" main.py --cpu --listen 127.0.0.1 --port "$PORT" --disable-auto-launch \
      --base-directory "$DATA" --output-directory "$DATA/output" \
      --input-directory "$DATA/input" --user-directory "$DATA/user" \
      --temp-directory "$DATA/temp" --database-url "sqlite:///$DATA/user/comfyui.db" \
      --preview-method auto ${CUSTOM_ARGS[@]+"${CUSTOM_ARGS[@]}"}
  ) </dev/null >>"$LOG" 2>&1 &
  PID=$!
  echo "$PID" >"$PIDFILE"

  while :; do
    if ! kill -0 "$PID" 2>/dev/null; then
      wait "$PID" 2>/dev/null && rc=0 || rc=$?
      rm -f "$PIDFILE"
      if [ "$attempt" -lt 3 ] && tail -c +"$((LOG_OFFSET + 1))" "$LOG" | grep -qi 'address already in use\|errno 98'; then
        log "port $PORT was taken meanwhile; retrying"
        continue 2
      fi
      tail_log
      die "ComfyUI exited (status $rc) before it was ready"
    fi
    if http_ok "$URL/system_stats"; then
      echo "$URL" >"$URLFILE"
      log "ready in $(($(date +%s) - T0)) s (pid $PID)"
      echo "$URL"
      exit 0
    fi
    if [ $(($(date +%s) - T0)) -ge "$TIMEOUT" ]; then
      kill -TERM "$PID" 2>/dev/null || true
      sleep 2; kill -KILL "$PID" 2>/dev/null || true
      rm -f "$PIDFILE"
      tail_log
      die "ComfyUI was not ready within $TIMEOUT s"
    fi
    sleep 0.5
  done
done
die "could not start ComfyUI"
