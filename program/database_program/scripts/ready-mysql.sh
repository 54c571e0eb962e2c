#!/bin/sh
# Readiness: the primary answers an authenticated query; a replica's replication threads are both running.
# As root on the local socket (root has no network account); a server that does not listen for clients yet
# has no socket either.
#
# Environment: POD_INDEX, ADMIN_PASSWORD; optional MYSQL_UNIX_PORT (the server's socket, default
# /var/run/mysqld/mysqld.sock).
set -eu
: "${POD_INDEX:?}" "${ADMIN_PASSWORD:?}"
export MYSQL_PWD="$ADMIN_PASSWORD"   # read by the client; keeps the password off the command line
client=$(command -v mariadb || command -v mysql)
local_sql() { "$client" --socket="${MYSQL_UNIX_PORT:-/var/run/mysqld/mysqld.sock}" --user=root "$@"; }
if [ "$POD_INDEX" = 0 ]; then
  local_sql --execute="SELECT 1" >/dev/null
  exit 0
fi
status=$(local_sql --execute="SHOW REPLICA STATUS\G")
# MySQL names the columns Replica_*, MariaDB Slave_*.
for thread in IO SQL; do
  echo "$status" | grep -Eq "(Replica|Slave)_${thread}_Running: Yes" \
    || { echo "replica $thread thread not running" >&2; exit 1; }
done
