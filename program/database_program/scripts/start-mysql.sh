#!/bin/sh
# The MySQL container's command: the server command given as arguments (the official image's entrypoint),
# with this pod's server id, unique per pod as replication needs, and on replicas read-only for clients
# (replication and the admin still write).
#
# Environment: POD_INDEX.
set -eu
: "${POD_INDEX:?}"
set -- "$@" --server-id=$((POD_INDEX + 1))
[ "$POD_INDEX" = 0 ] || set -- "$@" --read-only
exec "$@"
