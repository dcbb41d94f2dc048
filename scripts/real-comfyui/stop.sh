#!/usr/bin/env bash
# stop.sh DATA_DIR — stop the ComfyUI that start.sh DATA_DIR started, by its pid file:
# SIGTERM, then SIGKILL after ${COMFY_E2E_STOP_TIMEOUT:-10} s. No error if it is already gone.
set -uo pipefail

log() { printf '[real-comfyui stop] %s\n' "$*" >&2; }

[ $# -eq 1 ] && [ -n "$1" ] || { log "usage: stop.sh DATA_DIR"; exit 2; }
PIDFILE="$1/comfyui.pid"
TIMEOUT="${COMFY_E2E_STOP_TIMEOUT:-10}"

if [ ! -s "$PIDFILE" ]; then
  log "no pid file in $1: nothing to stop"
  exit 0
fi
PID="$(cat "$PIDFILE")"
case "$PID" in ''|*[!0-9]*) log "bad pid file $PIDFILE"; rm -f "$PIDFILE"; exit 0 ;; esac

# Only signal the process if it is still a ComfyUI main.py (the pid may have been reused).
is_ours() {
  kill -0 "$PID" 2>/dev/null || return 1
  [ -r "/proc/$PID/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$PID/cmdline" | grep -q 'main.py'
}

if ! is_ours; then
  log "pid $PID is not running: already stopped"
  rm -f "$PIDFILE"
  exit 0
fi

kill -TERM "$PID" 2>/dev/null || true
deadline=$(($(date +%s) + TIMEOUT))
while is_ours; do
  # a zombie (child of a shell that has not reaped it) counts as stopped
  [ "$(awk '{print $3}' "/proc/$PID/stat" 2>/dev/null)" = Z ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "pid $PID still alive after ${TIMEOUT} s: SIGKILL"
    kill -KILL "$PID" 2>/dev/null || true
    sleep 0.2
    break
  fi
  sleep 0.2
done
rm -f "$PIDFILE"
log "stopped pid $PID"
exit 0
