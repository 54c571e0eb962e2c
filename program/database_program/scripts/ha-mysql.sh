#!/bin/sh
# What the operator runs in a MariaDB pod's server container (pods/exec) to fail over or switch over. The operator
# decides; this only acts, as root on the local socket.
#   position  `replica <server id> <gtid_slave_pos> <gtid_binlog_pos> <received GTID position>` for a read-only
#             server, `primary` for a writable one
#   fence     the server stops taking writes (read_only; it waits for commits in flight) and the application's
#             sessions are ended; prints `fenced <gtid_binlog_pos>`, its last transaction
#   catch-up GTID  waits (at most 60 s) until this replica has applied GTID
#   promote   a replica applies all it received, stops replicating (its source kept, for when it follows again)
#             and becomes writable, semi-synchronous when the replicas are
#   follow    a read-only server replicates, by GTID from where it is (current_pos: what it replicated and, for
#             an old primary, what it wrote), from the read-write Service, which leads to the current primary once
#             that is ready (tried again every 2 s, not the default minute)
#
# Environment: ADMIN_PASSWORD, DATADIR (promote), REPLICATION_USER, REPLICATION_PASSWORD, PRIMARY_HOST (follow); optional
# PRIMARY_PORT, TLS_CA_FILE (follow over verified TLS), MYSQL_UNIX_PORT (the server's socket, default /var/run/mysqld/mysqld.sock).
set -eu
: "${ADMIN_PASSWORD:?}"
export MYSQL_PWD="$ADMIN_PASSWORD"   # read by the client; keeps the password off the command line
client=$(command -v mariadb || command -v mysql)
local_sql() {
  "$client" --socket="${MYSQL_UNIX_PORT:-/var/run/mysqld/mysqld.sock}" --user=root --batch --skip-column-names "$@"
}
sql_string() { printf "'%s'" "$(printf %s "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
received() { local_sql --execute="SHOW SLAVE STATUS\G" | sed -n 's/^ *Gtid_IO_Pos: *//p'; }

case "${1:-}" in
  position)
    if [ "$(local_sql --execute="SELECT @@GLOBAL.read_only")" = 0 ]; then
      echo primary
    else
      echo "replica $(local_sql --execute="SELECT CONCAT_WS(' ', @@server_id, IF(@@GLOBAL.gtid_slave_pos = '', '-', @@GLOBAL.gtid_slave_pos), IF(@@GLOBAL.gtid_binlog_pos = '', '-', @@GLOBAL.gtid_binlog_pos))") $(received | grep . || echo -)"
    fi ;;
  fence)
    local_sql --execute="SET GLOBAL read_only = 1"
    local_sql --execute="SELECT id FROM information_schema.processlist WHERE user NOT IN ('root', 'system user', 'event_scheduler', '$(printf %s "${REPLICATION_USER:-}" | sed "s/'/''/g")') AND id <> CONNECTION_ID()" |
      while read -r id; do local_sql --execute="KILL CONNECTION $id" 2>/dev/null || true; done
    echo "fenced $(local_sql --execute="SELECT @@GLOBAL.gtid_binlog_pos")" ;;
  catch-up)
    [ "$(local_sql --execute="SELECT MASTER_GTID_WAIT($(sql_string "${2:?}"), 60)")" = 0 ] \
      || { echo "did not apply $2 within 60 s" >&2; exit 1; } ;;
  promote)
    if [ "$(local_sql --execute="SELECT @@GLOBAL.read_only")" != 0 ]; then
      position=$(received)
      local_sql --execute="STOP SLAVE IO_THREAD"
      if [ -n "$position" ]; then
        [ "$(local_sql --execute="SELECT MASTER_GTID_WAIT($(sql_string "$position"), 60)")" = 0 ] \
          || { echo "did not apply what it received ($position) within 60 s" >&2; exit 1; }
      fi
      touch "${DATADIR:?}/.primary"   # should it be fenced one day, its bootstrap makes it a fresh copy
      local_sql --execute="STOP SLAVE; SET GLOBAL read_only = 0"
      # Semi-synchronous when the configuration makes every pod a semi-synchronous replica (MariaDB).
      local_sql --execute="SET GLOBAL rpl_semi_sync_master_enabled = @@GLOBAL.rpl_semi_sync_slave_enabled" 2>/dev/null \
        || true
    fi ;;
  follow)
    : "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}" "${PRIMARY_HOST:?}"
    [ "$(local_sql --execute="SELECT @@GLOBAL.read_only")" != 0 ] || { echo "writable: not following" >&2; exit 1; }
    # Over TLS, the new primary's certificate verified against the Database's CA (TLS_CA_FILE), as the bootstrap does.
    tls=""
    [ -z "${TLS_CA_FILE:-}" ] \
      || tls=", MASTER_SSL=1, MASTER_SSL_CA=$(sql_string "$TLS_CA_FILE"), MASTER_SSL_VERIFY_SERVER_CERT=1"
    local_sql <<SQL
STOP SLAVE;
CHANGE MASTER TO MASTER_HOST=$(sql_string "$PRIMARY_HOST"), MASTER_PORT=${PRIMARY_PORT:-3306},
  MASTER_USER=$(sql_string "$REPLICATION_USER"), MASTER_PASSWORD=$(sql_string "$REPLICATION_PASSWORD"),
  MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=2$tls;
START SLAVE;
SQL
    ;;
  *) echo "usage: $0 position|fence|catch-up GTID|promote|follow" >&2; exit 2 ;;
esac
