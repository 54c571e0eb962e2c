#!/bin/sh
# The MariaDB/MySQL container's command: the server command given as arguments, with this pod's server id, unique
# per pod as replication needs, and on replicas read-only for clients (replication and the admin still write).
# bootstrap-mysql.sh has made the data directory complete before this runs.
#
# Environment: POD_INDEX.
set -eu
: "${POD_INDEX:?}"
set -- "$@" --server-id=$((POD_INDEX + 1))
[ "$POD_INDEX" = 0 ] || set -- "$@" --read-only
exec "$@"
