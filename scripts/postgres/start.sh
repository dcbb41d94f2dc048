#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the store tests and prints its URL on stdout.
#
#   URL="$(scripts/postgres/start.sh DIR)"   # DIR: an empty (or missing) directory it may own
#   ...                                      # COMFY_TEST_POSTGRES_URL="$URL" cargo test ...
#   scripts/postgres/stop.sh DIR
#
# The cluster lives in DIR/data, listens on 127.0.0.1 on a free port and on a unix socket in
# DIR, and trusts local connections (it is for tests only). PostgreSQL refuses to run as root:
# as root, initdb and pg_ctl run as the `postgres` system user when it exists (else `nobody`),
# and DIR is given to that user. PG_BIN overrides where the server binaries are
# (default: /usr/lib/postgresql/15/bin, else the newest /usr/lib/postgresql/*/bin, else PATH).
# PG_SERVER_OPTS adds server options after the defaults (e.g. "-c fsync=on" for measurements;
# the tests run with fsync off). When no server is installed and this runs as root on Debian, it installs Debian's `postgresql`
# package first (a new CI machine has only the client).
set -Eeuo pipefail
DIR="${1:?usage: start.sh DIR}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

if [ -z "${PG_BIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null \
  && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "start.sh: installing Debian's postgresql (no server binaries found)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
fi

if [ -z "${PG_BIN:-}" ]; then
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    PG_BIN=/usr/lib/postgresql/15/bin
  else
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [ -n "$PG_BIN" ] || PG_BIN="$(dirname "$(command -v initdb || echo /nonexistent/initdb)")"
  fi
fi
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "start.sh: no PostgreSQL server binaries (initdb) in $PG_BIN; install postgresql (Debian: apt-get install postgresql)" >&2
  exit 1
fi

as_owner=()
if [ "$(id -u)" = "0" ]; then
  if id -u postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
  chown -R "$user" "$DIR"
  as_owner=(runuser -u "$user" --)
fi
run() { "${as_owner[@]}" "$@"; }

# A free TCP port on 127.0.0.1 (asked of the kernel; a race with another process is unlikely
# and makes pg_ctl fail loudly below).
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || true)"
if [ -z "$port" ]; then port=$(( 20000 + RANDOM % 20000 )); fi

if [ ! -f "$DIR/data/PG_VERSION" ]; then
  run "$PG_BIN/initdb" -D "$DIR/data" -U comfy --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || run "$PG_BIN/initdb" -D "$DIR/data" -U comfy --auth=trust --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
echo "$port" >"$DIR/port"
run "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR -c fsync=off -c max_connections=200 ${PG_SERVER_OPTS:-}" start >&2 \
  || { cat "$DIR/server.log" >&2; exit 1; }
run "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U comfy comfy_test >&2
echo "postgres://comfy@127.0.0.1:$port/comfy_test"
