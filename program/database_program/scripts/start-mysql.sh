#!/bin/sh
# The MariaDB/MySQL container's command: the server command given as arguments, with this pod's server id, unique
# per pod as replication needs. Only the pod the operator made primary (its role label, at ROLE_FILE) starts
# writable, and without starting replication (its source is the read-write Service, itself). Any other starts
# read-only for clients (replication and the admin still write), so a fenced old primary never accepts a write,
# and without waiting for semi-synchronous acknowledgements. bootstrap-mysql.sh has made the data directory
# complete (and waited for the role) before this runs.
#
# Environment: POD_INDEX ROLE_FILE.
set -eu
: "${POD_INDEX:?}" "${ROLE_FILE:?}"
set -- "$@" --server-id=$((POD_INDEX + 1))
if [ "$(cat "$ROLE_FILE")" = primary ]; then
  set -- "$@" --skip-slave-start
else
  # Semi-synchronous waiting is the primary's only: a replica that logs what it applies (log_slave_updates) would
  # wait for acknowledgements from replicas of its own, which it has none of. The promotion turns it on.
  set -- "$@" --read-only --loose-rpl-semi-sync-master-enabled=OFF
fi
exec "$@"
