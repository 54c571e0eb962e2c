#!/bin/sh
# Readiness: the primary accepts connections; a replica is in recovery and streaming WAL from the primary.
# Over TCP by default, so a server that does not listen for clients yet does not count as ready.
#
# Environment: POD_INDEX, ADMIN_USER, ADMIN_PASSWORD; optional PGHOST (default 127.0.0.1), PGPORT.
set -eu
: "${POD_INDEX:?}" "${ADMIN_USER:?}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPASSWORD="${ADMIN_PASSWORD:-}"
if [ "$POD_INDEX" = 0 ]; then
  exec pg_isready --quiet --username "$ADMIN_USER"
fi
status=$(psql --no-psqlrc --tuples-only --no-align --username "$ADMIN_USER" --dbname postgres \
  --command "SELECT status FROM pg_stat_wal_receiver")
[ "$status" = streaming ] || { echo "replica not streaming (wal receiver: ${status:-none})" >&2; exit 1; }
