#!/bin/sh
# Init container of every MariaDB and MySQL pod (same image as the server): makes sure DATADIR holds a complete
# database before the server may start, with the accounts of this version of the product.
# It first waits for the role the operator gives the pod (primary or replica, ROLE_FILE: the role label).
#   complete:  left as it is (an old primary that is a replica now is replaced by a fresh copy, the old directory
#              kept as $DATADIR.diverged-N), except that the primary makes sure of the accounts through a temporary server that listens
#              on a local socket only (replicas get them by replication), so Databases made by an earlier version
#              get the new accounts on their next start;
#   otherwise: a new one is built in $DATADIR.bootstrap, beside DATADIR on the same volume: a fresh system database
#              (mariadb-install-db, or mysqld --initialize-insecure), then, through a temporary server that listens
#              on a local socket only,
#     primary:   only the first primary of a new Database (MAY_INITIALISE_FILE says true): the accounts and the
#                application database, then (when RESTORE_FILE is set) the dump loaded and verified;
#     replicas:  a consistent copy of the primary (a dump of every database with its GTID position, read as the
#                backup user) and the replication source (the replication user), so the server replicates by GTID
#                from that position as soon as it starts.
#   Only when that is complete does it get the marker and move into place (one rename).
# Any failure exits non-zero: the kubelet runs this again, the server never starts on a partial or empty directory,
# and the reason goes to the termination log. Passwords come from the environment (secretKeyRef) and reach the
# servers on stdin or through MYSQL_PWD, never on a command line.
#
# Accounts, one job each: root@localhost only (the local socket: the server does not resolve names, so
# 'localhost' never matches a network client); APP_USER has every privilege on DATABASE only; REPLICATION_USER
# may only replicate; EXPORTER_USER, from 127.0.0.1 only (the exporter sidecar), has the monitoring grants
# (PROCESS, REPLICATION CLIENT, SELECT on performance_schema; SLAVE MONITOR on MariaDB); BACKUP_USER may read and
# lock (SELECT, LOCK TABLES, SHOW VIEW, RELOAD, REPLICATION CLIENT, and TRIGGER and EVENT, without which the dump
# tool cannot read triggers and events). Network accounts are '%': the pods' addresses are not known here and
# names are not resolved, so NetworkPolicy narrows where they connect from.
#
# Environment: DATADIR CONFIG_FILE POD_INDEX ROLE_FILE MAY_INITIALISE_FILE ADMIN_PASSWORD APP_USER APP_PASSWORD DATABASE REPLICATION_USER
# REPLICATION_PASSWORD EXPORTER_USER EXPORTER_PASSWORD BACKUP_USER BACKUP_PASSWORD; replicas: PRIMARY_HOST,
# optional PRIMARY_PORT; optional RESTORE_FILE, IMAGE_COMMANDS (what the image must carry), RUN_DIR (the temporary
# server's socket directory), TERMINATION_LOG.
set -eu
: "${DATADIR:?}" "${CONFIG_FILE:?}" "${POD_INDEX:?}" "${ADMIN_PASSWORD:?}" "${APP_USER:?}" "${APP_PASSWORD:?}"
: "${DATABASE:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}" "${EXPORTER_USER:?}" "${EXPORTER_PASSWORD:?}"
: "${BACKUP_USER:?}" "${BACKUP_PASSWORD:?}"
build="$DATADIR.bootstrap"
run_dir="${RUN_DIR:-/var/run/mysqld}"
socket="$run_dir/bootstrap.sock"
here=$(dirname "$0")
server_pid=""
# shellcheck source=bootstrap-lib.sh
. "$here/bootstrap-lib.sh"
unset MYSQL_PWD
# In a data directory that is or was a primary's (made here, or promoted: ha-mysql.sh).
PRIMARY_MARKER=.primary

finish() {
  status=$?
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ "$status" = 0 ] || report_failure "$status"
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

check_image
install_tls
# MariaDB's own names where the image has them (MariaDB 11 images have no mysql* names), else MySQL's.
server=$(command -v mariadbd || command -v mysqld)
client=$(command -v mariadb || command -v mysql)
dump=$(command -v mariadb-dump || command -v mysqldump)

sql_string() { printf "'%s'" "$(printf %s "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
sql_name() { printf '`%s`' "$(printf %s "$1" | sed 's/`/``/g')"; }
local_sql() { "$client" --socket="$socket" --user=root --batch --skip-column-names "$@"; }
# printf, not echo: sh's echo would interpret backslashes in passwords.
statement() { printf '%s\n' "$*"; }

# start_temporary_server DIR: a server on DIR that listens on the local socket only, and never waits for a
# replica's acknowledgement (semi-synchronous replication is for the real server: no replica ever connects here).
start_temporary_server() {
  step="starting a temporary server on a local socket only"
  "$server" --defaults-file="$CONFIG_FILE" --datadir="$1" --skip-networking --socket="$socket" \
    --pid-file="$run_dir/bootstrap.pid" --server-id=$((POD_INDEX + 1)) --loose-rpl-semi-sync-master-enabled=OFF &
  server_pid=$!
  tries=0
  until answer=$(local_sql --execute="SELECT 1" 2>&1); do
    case "$answer" in
      *"Access denied"*) echo "bootstrap: root@localhost refuses the admin password of the Secret" >&2; exit 1 ;;
    esac
    kill -0 "$server_pid" 2>/dev/null || { echo "bootstrap: the temporary server exited" >&2; exit 1; }
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { echo "bootstrap: the temporary server did not answer in 5 minutes" >&2; exit 1; }
    sleep 1
  done
}

stop_temporary_server() {
  step="stopping the temporary server"
  kill -TERM "$server_pid"
  wait "$server_pid" || { echo "bootstrap: the temporary server did not shut down cleanly" >&2; exit 1; }
  server_pid=""
}

# reset_account USER HOST PASSWORD: the account exists with this password and no privileges yet.
reset_account() {
  account="$(sql_string "$1")@$(sql_string "$2")"
  statement "CREATE USER IF NOT EXISTS $account IDENTIFIED BY $(sql_string "$3");"
  statement "ALTER USER $account IDENTIFIED BY $(sql_string "$3");"
  statement "REVOKE ALL PRIVILEGES, GRANT OPTION FROM $account;"
}

# ensure_accounts: the replication, exporter and backup accounts as this version defines them, and no root but
# root@localhost (idempotent; run as root on the local socket; written to the binary log, so replicas follow).
ensure_accounts() {
  step="making sure of the replication, exporter and backup accounts"
  replica_monitor=""
  if local_sql --execute="SELECT VERSION()" | grep -q MariaDB; then replica_monitor=", SLAVE MONITOR"; fi
  {
    reset_account "$REPLICATION_USER" % "$REPLICATION_PASSWORD"
    statement "GRANT REPLICATION SLAVE ON *.* TO $(sql_string "$REPLICATION_USER")@'%';"
    reset_account "$EXPORTER_USER" 127.0.0.1 "$EXPORTER_PASSWORD"
    statement "ALTER USER $(sql_string "$EXPORTER_USER")@'127.0.0.1' WITH MAX_USER_CONNECTIONS 3;"
    statement "GRANT PROCESS, REPLICATION CLIENT$replica_monitor ON *.* TO $(sql_string "$EXPORTER_USER")@'127.0.0.1';"
    statement "GRANT SELECT ON performance_schema.* TO $(sql_string "$EXPORTER_USER")@'127.0.0.1';"
    reset_account "$BACKUP_USER" % "$BACKUP_PASSWORD"
    statement "GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT, RELOAD, REPLICATION CLIENT ON *.*" \
      "TO $(sql_string "$BACKUP_USER")@'%';"
    statement "DROP USER IF EXISTS 'root'@'%';"
  } | local_sql
}

wait_for_role
check_data_directory "$DATADIR" mysql
if [ -n "$complete" ] && [ "$role" = replica ] && [ -f "$DATADIR/$PRIMARY_MARKER" ]; then
  # A fenced old primary: transactions it wrote that the new primary never got (in semi-synchronous mode, only
  # ones never acknowledged) would make it refuse the new primary's history (gtid_strict_mode). A fresh copy of the
  # new primary replaces it; the old directory is kept.
  keep_diverged "$DATADIR"
  complete=""
fi
if [ -n "$complete" ]; then
  if [ "$role" = primary ]; then
    touch "$DATADIR/$PRIMARY_MARKER"
    export MYSQL_PWD="$ADMIN_PASSWORD"
    start_temporary_server "$DATADIR"
    ensure_accounts
    stop_temporary_server
  fi
  exit 0
fi

[ "$role" != primary ] || check_may_initialise
step="clearing what an earlier attempt left in $build"
rm -rf "$build"
mkdir "$build"

step="initialising the system database"
if command -v mariadb-install-db >/dev/null 2>&1; then
  mariadb-install-db --defaults-file="$CONFIG_FILE" --datadir="$build" --auth-root-authentication-method=normal \
    --skip-test-db >/dev/null
else
  "$server" --defaults-file="$CONFIG_FILE" --datadir="$build" --initialize-insecure
fi

start_temporary_server "$build"

step="removing the accounts the installation made besides root@localhost and the system's own"
local_sql --execute="SELECT CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.user
  WHERE NOT (host = 'localhost' AND (user = 'root' OR user LIKE '%.%'))" | local_sql

if [ "$role" = primary ]; then
  step="creating the application account and database"
  local_sql <<SQL
CREATE DATABASE $(sql_name "$DATABASE");
CREATE USER $(sql_string "$APP_USER")@'%' IDENTIFIED BY $(sql_string "$APP_PASSWORD");
GRANT ALL PRIVILEGES ON $(sql_name "$DATABASE").* TO $(sql_string "$APP_USER")@'%';
ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$ADMIN_PASSWORD");
SQL
  export MYSQL_PWD="$ADMIN_PASSWORD"
  ensure_accounts
  if [ -n "${RESTORE_FILE:-}" ]; then
    step="restoring $RESTORE_FILE"
    MYSQL_SOCKET="$socket" sh "$here/restore-mysql.sh"
  fi
else
  : "${PRIMARY_HOST:?}"
  port="${PRIMARY_PORT:-3306}"
  step="waiting for the primary at $PRIMARY_HOST:$port"
  # shellcheck disable=SC2086 # CLIENT_TLS_OPTIONS is a list of options
  until MYSQL_PWD="$BACKUP_PASSWORD" "$client" --host="$PRIMARY_HOST" --port="$port" --user="$BACKUP_USER" \
    ${CLIENT_TLS_OPTIONS:-} --execute="SELECT 1" >/dev/null 2>&1; do
    echo "bootstrap: waiting for the primary at $PRIMARY_HOST:$port"
    sleep 2
  done
  source_options() {
    statement "$1_HOST=$(sql_string "$PRIMARY_HOST"), $1_PORT=$port, $1_USER=$(sql_string "$REPLICATION_USER"),"
    # Reconnect within seconds, not the default minute: after a failover the read-write Service leads to the new
    # primary as soon as that is ready.
    statement "$1_PASSWORD=$(sql_string "$REPLICATION_PASSWORD"), $1_CONNECT_RETRY=2"
    # TLS, the primary's certificate verified against the Database's CA (TLS_CA_FILE) and the host name.
    [ -z "${TLS_CA_FILE:-}" ] \
      || statement ", $1_SSL=1, $1_SSL_CA=$(sql_string "$TLS_CA_FILE"), $1_SSL_VERIFY_SERVER_CERT=1"
  }
  if local_sql --execute="SELECT VERSION()" | grep -q MariaDB; then
    # The dump sets gtid_slave_pos to the primary's position at the dump; replication goes on from there.
    dump_options="--gtid --master-data=1"
    source="CHANGE MASTER TO $(source_options MASTER), MASTER_USE_GTID=slave_pos;"
  else
    # The dump sets gtid_purged to what the primary had executed; auto-position goes on from there.
    dump_options="--set-gtid-purged=ON"
    source="CHANGE REPLICATION SOURCE TO $(source_options SOURCE), SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1;"
  fi
  step="copying the primary"
  # Forget this server's own installation transactions: the copy replaces them.
  local_sql --execute="RESET BINARY LOGS AND GTIDS" 2>/dev/null || local_sql --execute="RESET MASTER"
  # shellcheck disable=SC2086 # dump_options and CLIENT_TLS_OPTIONS are lists of options
  MYSQL_PWD="$BACKUP_PASSWORD" "$dump" --host="$PRIMARY_HOST" --port="$port" --user="$BACKUP_USER" ${CLIENT_TLS_OPTIONS:-} \
    --all-databases --single-transaction --routines --events --triggers --no-tablespaces $dump_options \
    > "$build/.copy.sql"
  tail -n 1 "$build/.copy.sql" | grep -q '^-- Dump completed' \
    || { echo "bootstrap: the copy of the primary is incomplete" >&2; exit 1; }
  # Loaded outside the binary log: the copy is the primary's history, not this server's own transactions.
  { echo "SET SESSION sql_log_bin = 0;"; cat "$build/.copy.sql"; } | local_sql
  rm "$build/.copy.sql"
  step="setting the replication source"
  # The copy brought the primary's accounts, root's password with them.
  # Not written to the binary log (LOCAL): a transaction of the replica's own would be errant, and with
  # log_slave_updates the primary's next one would then stop replication (gtid_strict_mode).
  local_sql --execute="FLUSH LOCAL PRIVILEGES"
  export MYSQL_PWD="$ADMIN_PASSWORD"
  printf '%s\n' "$source" | local_sql
fi

stop_temporary_server
[ "$role" != primary ] || touch "$build/$PRIMARY_MARKER"

move_into_place "$build" "$DATADIR"
