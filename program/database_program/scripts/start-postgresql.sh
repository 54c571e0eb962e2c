#!/bin/sh
# The PostgreSQL container's command: the server command given as arguments, unless this pod was fenced. A data
# directory that is not a standby runs only on the pod the operator made primary (its role label, at ROLE_FILE):
# an old primary that a failover fenced must not run as a second primary when its container restarts; it waits
# for the operator, which deletes the pod so that its bootstrap rejoins it as a replica (pg_rewind).
#
# Environment: PGDATA ROLE_FILE.
set -eu
: "${PGDATA:?}" "${ROLE_FILE:?}"
if [ "$(cat "$ROLE_FILE")" != primary ] && [ ! -f "$PGDATA/standby.signal" ]; then
  echo "start: this pod is not the primary and its data directory is not a standby: fenced, not started" >&2
  exit 1
fi
exec "$@"
