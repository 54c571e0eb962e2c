#!/bin/sh
# Readiness: the primary answers an authenticated query; a replica's replication threads are both running.
# Over TCP, so a server that does not listen for clients yet does not count as ready.
#
# Environment: POD_INDEX, ADMIN_PASSWORD; optional MYSQL_HOST (default 127.0.0.1), MYSQL_TCP_PORT.
set -eu
: "${POD_INDEX:?}" "${ADMIN_PASSWORD:?}"
export MYSQL_PWD="$ADMIN_PASSWORD"
client=$(command -v mariadb || command -v mysql)
if [ "$POD_INDEX" = 0 ]; then
  exec "$client" --host="${MYSQL_HOST:-127.0.0.1}" --user=root --execute="SELECT 1" >/dev/null
fi
status=$("$client" --host="${MYSQL_HOST:-127.0.0.1}" --user=root --execute="SHOW REPLICA STATUS\G")
# MySQL names the columns Replica_*, MariaDB Slave_*.
for thread in IO SQL; do
  echo "$status" | grep -Eq "(Replica|Slave)_${thread}_Running: Yes" \
    || { echo "replica $thread thread not running" >&2; exit 1; }
done
