#!/bin/sh
# Readiness: the primary (the role the operator gave this pod, at ROLE_FILE) answers an authenticated query and is
# writable (a replica the operator made primary is not ready until promoted); a replica's replication threads are
# both running (a fenced old primary is not ready until it follows the new one).
# As root on the local socket (root has no network account); a server that does not listen for clients yet
# has no socket either.
#
# Environment: ROLE_FILE, ADMIN_PASSWORD; optional MYSQL_UNIX_PORT (the server's socket, default
# /var/run/mysqld/mysqld.sock).
set -eu
: "${ROLE_FILE:?}" "${ADMIN_PASSWORD:?}"
export MYSQL_PWD="$ADMIN_PASSWORD"   # read by the client; keeps the password off the command line
client=$(command -v mariadb || command -v mysql)
local_sql() { "$client" --socket="${MYSQL_UNIX_PORT:-/var/run/mysqld/mysqld.sock}" --user=root "$@"; }
if [ "$(cat "$ROLE_FILE")" = primary ]; then
  read_only=$(local_sql --batch --skip-column-names --execute="SELECT @@GLOBAL.read_only")
  [ "$read_only" = 0 ] || { echo "primary still read-only (not promoted yet)" >&2; exit 1; }
  exit 0
fi
status=$(local_sql --execute="SHOW REPLICA STATUS\G")
# MySQL names the columns Replica_*, MariaDB Slave_*.
for thread in IO SQL; do
  echo "$status" | grep -Eq "(Replica|Slave)_${thread}_Running: Yes" \
    || { echo "replica $thread thread not running" >&2; exit 1; }
done
