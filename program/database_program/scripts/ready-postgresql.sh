#!/bin/sh
# Readiness: the primary accepts connections; a replica is in recovery and streaming WAL from the primary.
# Connections are checked over TCP, so a server that does not listen for clients yet does not count as ready; the
# replica's query runs as the superuser on the local socket, the only way the superuser logs in.
#
# Environment: POD_INDEX, ADMIN_USER; optional PGHOST (default 127.0.0.1), PGPORT, RUN_DIR (the server's socket
# directory, default /var/run/postgresql).
set -eu
: "${POD_INDEX:?}" "${ADMIN_USER:?}"
export PGHOST="${PGHOST:-127.0.0.1}"
pg_isready --quiet --username "$ADMIN_USER"
[ "$POD_INDEX" != 0 ] || exit 0
status=$(psql --no-psqlrc --tuples-only --no-align --host "${RUN_DIR:-/var/run/postgresql}" \
  --username "$ADMIN_USER" --dbname postgres --command "SELECT status FROM pg_stat_wal_receiver")
[ "$status" = streaming ] || { echo "replica not streaming (wal receiver: ${status:-none})" >&2; exit 1; }
