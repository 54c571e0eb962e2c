#!/bin/sh
# The MariaDB/MySQL container's command: the server command given as arguments, with this pod's server id, unique
# per pod as replication needs. Only the pod the operator made primary (its role label, at ROLE_FILE) starts
# writable; any other starts read-only for clients (replication and the admin still write), so a fenced old
# primary never accepts a write, and a replica made primary does not replicate from itself (its source is the
# read-write Service) until the operator has promoted it. bootstrap-mysql.sh has made the data directory complete
# (and waited for the role) before this runs.
#
# Environment: POD_INDEX ROLE_FILE.
set -eu
: "${POD_INDEX:?}" "${ROLE_FILE:?}"
set -- "$@" --server-id=$((POD_INDEX + 1))
if [ "$(cat "$ROLE_FILE")" = primary ]; then
  set -- "$@" --skip-slave-start
else
  set -- "$@" --read-only
fi
exec "$@"
