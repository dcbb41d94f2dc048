#!/usr/bin/env bash
# Stops the cluster that scripts/postgres/start.sh DIR started (quietly does nothing when none
# runs there). The directory itself is left for the caller to remove.
set -Euo pipefail
DIR="${1:?usage: stop.sh DIR}"
[ -f "$DIR/data/postmaster.pid" ] || exit 0
if [ -z "${PG_BIN:-}" ]; then
  if [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then PG_BIN=/usr/lib/postgresql/15/bin
  else PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"; fi
  [ -n "$PG_BIN" ] || PG_BIN="$(dirname "$(command -v pg_ctl)")"
fi
as_owner=()
if [ "$(id -u)" = "0" ]; then
  as_owner=(runuser -u "$(stat -c %U "$DIR/data")" --)
fi
"${as_owner[@]}" "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >&2
