#!/bin/sh
# Readiness: the primary (the role the operator gave this pod, at ROLE_FILE) accepts connections and is out of
# recovery (a standby the operator made primary is not ready until promoted); a replica is in recovery and
# streaming WAL from the primary (a fenced old primary is not ready until it follows the new one).
# Connections are checked over TCP, so a server that does not listen for clients yet does not count as ready; the
# query runs as the superuser on the local socket, the only way the superuser logs in.
#
# Environment: ROLE_FILE, ADMIN_USER; optional PGHOST (default 127.0.0.1), PGPORT, RUN_DIR (the server's socket
# directory, default /var/run/postgresql).
set -eu
: "${ROLE_FILE:?}" "${ADMIN_USER:?}"
export PGHOST="${PGHOST:-127.0.0.1}"
pg_isready --quiet --username "$ADMIN_USER"
local_sql() {
  psql --no-psqlrc --tuples-only --no-align --host "${RUN_DIR:-/var/run/postgresql}" --username "$ADMIN_USER" \
    --dbname postgres --command "$1"
}
if [ "$(cat "$ROLE_FILE")" = primary ]; then
  [ "$(local_sql "SELECT pg_is_in_recovery()")" = f ] || { echo "primary still in recovery (not promoted yet)" >&2; exit 1; }
  exit 0
fi
status=$(local_sql "SELECT status FROM pg_stat_wal_receiver")
[ "$status" = streaming ] || { echo "replica not streaming (wal receiver: ${status:-none})" >&2; exit 1; }
