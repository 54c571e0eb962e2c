#!/bin/sh
# Run once by the official mysql image on each pod's first start, while its first-start server listens on the
# local socket only. On the primary (POD_INDEX 0): create the replication user. On a replica: copy the primary
# (a consistent dump of every database, with its GTID position) and replicate from it by GTID from there on, so
# a replica added at any time catches up by itself.
# Works with MySQL 8.0.23+ and MariaDB 10.5+ (GTIDs are configured differently; the server says which it is).
#
# Environment: POD_INDEX, MYSQL_ROOT_PASSWORD, REPLICATION_USER, REPLICATION_PASSWORD; on replicas PRIMARY_HOST
# and optional PRIMARY_PORT; optional MYSQL_SOCKET when the local server's socket is not the client's default.
set -eu
: "${POD_INDEX:?}" "${MYSQL_ROOT_PASSWORD:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"
export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
local_sql() { mysql ${MYSQL_SOCKET:+--socket="$MYSQL_SOCKET"} --user=root --batch --skip-column-names "$@"; }
sql_string() { printf "'%s'" "$(printf %s "$1" | sed "s/'/''/g")"; }

if [ "$POD_INDEX" = 0 ]; then
  local_sql <<SQL
CREATE USER IF NOT EXISTS $(sql_string "$REPLICATION_USER")@'%' IDENTIFIED BY $(sql_string "$REPLICATION_PASSWORD");
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO $(sql_string "$REPLICATION_USER")@'%';
SQL
  echo "replication: user $REPLICATION_USER created on the primary"
  exit 0
fi

: "${PRIMARY_HOST:?}"
port="${PRIMARY_PORT:-3306}"
until mysql --host="$PRIMARY_HOST" --port="$port" --user=root --execute="SELECT 1" >/dev/null 2>&1; do
  echo "replication: waiting for the primary at $PRIMARY_HOST:$port"
  sleep 2
done
# The replication source as CHANGE MASTER / CHANGE REPLICATION SOURCE take it ($1: MASTER or SOURCE).
source_options() {
  echo "$1_HOST=$(sql_string "$PRIMARY_HOST"), $1_PORT=$port, $1_USER=$(sql_string "$REPLICATION_USER"),"
  echo "$1_PASSWORD=$(sql_string "$REPLICATION_PASSWORD")"
}
if local_sql --execute="SELECT VERSION()" | grep -q MariaDB; then
  # The dump sets gtid_slave_pos to the primary's position at the dump; replication goes on from there.
  dump_options="--gtid --master-data=1"
  start="CHANGE MASTER TO $(source_options MASTER), MASTER_USE_GTID=slave_pos; START SLAVE;"
else
  # The dump sets gtid_purged to what the primary had executed; auto-position goes on from there.
  dump_options="--set-gtid-purged=ON"
  start="CHANGE REPLICATION SOURCE TO $(source_options SOURCE), SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1;
    START REPLICA;"
fi
# Forget this server's own first-start transactions: the copy replaces them.
local_sql --execute="RESET BINARY LOGS AND GTIDS" 2>/dev/null || local_sql --execute="RESET MASTER"
# shellcheck disable=SC2086 # dump_options is a list of options
mysqldump --host="$PRIMARY_HOST" --port="$port" --user=root --all-databases --single-transaction --routines \
  --events --triggers $dump_options | local_sql
local_sql --execute="FLUSH PRIVILEGES; $start"
echo "replication: copied $PRIMARY_HOST:$port and replicating from it"
