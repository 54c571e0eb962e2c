#!/bin/sh
# Readiness: the primary answers an authenticated query; a replica's replication threads are both running.
#
# Over TCP, so the image's first-start server (local socket only) does not count as ready.
#
# Environment: POD_INDEX, MYSQL_ROOT_PASSWORD; optional MYSQL_HOST (default 127.0.0.1), MYSQL_TCP_PORT.
set -eu
: "${POD_INDEX:?}" "${MYSQL_ROOT_PASSWORD:?}"
export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
if [ "$POD_INDEX" = 0 ]; then
  exec mysql --host="${MYSQL_HOST:-127.0.0.1}" --user=root --execute="SELECT 1" >/dev/null
fi
status=$(mysql --host="${MYSQL_HOST:-127.0.0.1}" --user=root --execute="SHOW REPLICA STATUS\G")
# MySQL names the columns Replica_*, MariaDB Slave_*.
for thread in IO SQL; do
  echo "$status" | grep -Eq "(Replica|Slave)_${thread}_Running: Yes" \
    || { echo "replica $thread thread not running" >&2; exit 1; }
done
