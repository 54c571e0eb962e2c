#!/bin/sh
# Init container of every PostgreSQL pod (same image as the server): makes sure PGDATA holds a complete database
# before the server may start, with the accounts and client rules of this version of the product.
# It first waits for the role the operator gives the pod (primary or replica, ROLE_FILE: the role label).
#   complete:  left as it is, except that every pod gets the current pg_hba.conf and the primary makes sure of the
#              accounts (through a temporary server on a local socket only), so Databases made by an earlier
#              version get the new accounts on their next start; a replica that is not a standby (a primary that
#              failed over: fenced, it must never run as a second primary) rejoins the primary: pg_rewind, or when
#              that cannot work a fresh copy, the old directory kept beside it as $PGDATA.diverged-N;
#   otherwise: a new one is built in $PGDATA.bootstrap, beside PGDATA on the same volume:
#     primary:   only the first primary of a new Database (MAY_INITIALISE_FILE says true): initdb, then the accounts
#                and the application database through a temporary server that listens on a local socket only, then
#                (when RESTORE_FILE is set) the dump loaded and verified;
#     replicas:  a copy of the primary (pg_basebackup, as the replication user) that streams from it as a hot
#                standby.
#   Only when that is complete does it get the marker and move into place (one rename).
# Any failure exits non-zero: the kubelet runs this again, the server never starts on a partial or empty directory,
# and the reason goes to the termination log. Passwords come from the environment (secretKeyRef) and reach the
# server on stdin or through the client's environment, never on a command line.
#
# Accounts, one job each: ADMIN_USER (the superuser) on the local socket only; APP_USER owns DATABASE and may log
# in to it only; REPLICATION_USER may only replicate; EXPORTER_USER has pg_monitor and logs in from this pod only
# (the exporter sidecar), to the postgres database; BACKUP_USER reads every table (pg_read_all_data from
# PostgreSQL 14) and writes nothing.
#
# Environment: PGDATA ROLE_FILE MAY_INITIALISE_FILE ADMIN_USER ADMIN_PASSWORD APP_USER APP_PASSWORD DATABASE REPLICATION_USER
# REPLICATION_PASSWORD EXPORTER_USER EXPORTER_PASSWORD BACKUP_USER BACKUP_PASSWORD; replicas: PRIMARY_HOST,
# optional PRIMARY_PORT; optional RESTORE_FILE, IMAGE_COMMANDS (what the image must carry), RUN_DIR (the temporary
# server's socket directory), TERMINATION_LOG.
set -eu
: "${PGDATA:?}" "${ADMIN_USER:?}" "${ADMIN_PASSWORD:?}" "${APP_USER:?}" "${APP_PASSWORD:?}"
: "${DATABASE:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}" "${EXPORTER_USER:?}" "${EXPORTER_PASSWORD:?}"
: "${BACKUP_USER:?}" "${BACKUP_PASSWORD:?}"
build="$PGDATA.bootstrap"
run_dir="${RUN_DIR:-/var/run/postgresql}"
server_log="$run_dir/bootstrap-server.log"
here=$(dirname "$0")
temporary_server=""
# shellcheck source=bootstrap-lib.sh
. "$here/bootstrap-lib.sh"

finish() {
  status=$?
  if [ -n "$temporary_server" ]; then
    pg_ctl --pgdata="$temporary_server" --mode=immediate --wait stop >/dev/null 2>&1 || true
  fi
  if [ "$status" != 0 ]; then
    [ ! -f "$server_log" ] || cat "$server_log" >&2
    report_failure "$status"
  fi
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

sql_string() { printf "'%s'" "$(printf %s "$1" | sed "s/'/''/g")"; }
sql_name() { printf '"%s"' "$(printf %s "$1" | sed 's/"/""/g')"; }
# Terse errors, and a server that never logs a failing statement: the statements carry passwords.
local_sql() {
  psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --set=VERBOSITY=terse --host="$run_dir" --username="$ADMIN_USER" "$@"
}

# write_client_rules DIR: who may connect how (pg_hba.conf; first match wins). The local socket is reachable from
# this pod's containers only. Over the network only TLS is accepted (hostssl; the server's ssl settings are in the
# ConfigMap's configuration) and the superuser is refused; replication connections are the replication user's (from
# any address: the pods' addresses are not known here, and the server does not resolve names, so NetworkPolicy
# narrows them), and so is the postgres database, where pg_rewind reads the files of a new primary (what a
# replication connection can copy anyway); the exporter logs in from this pod only; any other account reaches the
# application database only, with a password.
write_client_rules() {
  step="writing the client rules (pg_hba.conf)"
  cat > "$1/pg_hba.conf.new" <<HBA
# Written by bootstrap-postgresql.sh on every start; changes made here are replaced.
local all all trust
hostnossl all all all reject
host all $(sql_name "$ADMIN_USER") all reject
hostssl replication $(sql_name "$REPLICATION_USER") all scram-sha-256
hostssl postgres $(sql_name "$REPLICATION_USER") all scram-sha-256
hostssl postgres $(sql_name "$EXPORTER_USER") 127.0.0.1/32 scram-sha-256
hostssl postgres $(sql_name "$EXPORTER_USER") ::1/128 scram-sha-256
hostssl $(sql_name "$DATABASE") all all scram-sha-256
HBA
  mv "$1/pg_hba.conf.new" "$1/pg_hba.conf"
}

# start_temporary_server DIR: a server on DIR that listens on the local socket only.
start_temporary_server() {
  step="starting a temporary server on a local socket only"
  temporary_server="$1"
  pg_ctl --pgdata="$1" --wait --silent --log="$server_log" \
    --options="-c listen_addresses='' -c unix_socket_directories=$run_dir -c log_min_error_statement=panic" start
}

stop_temporary_server() {
  step="stopping the temporary server"
  pg_ctl --pgdata="$temporary_server" --mode=fast --wait --silent stop
  temporary_server=""
  rm -f "$server_log"
}

# ensure_role NAME ATTRIBUTES PASSWORD: the role exists with exactly these attributes and this password.
ensure_role() {
  cat <<SQL
SELECT 'CREATE ROLE ' || quote_ident($(sql_string "$1")) WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $(sql_string "$1"))
\\gexec
ALTER ROLE $(sql_name "$1") $2 PASSWORD $(sql_string "$3");
SQL
}

# ensure_accounts: the replication, exporter and backup accounts, as this version defines them (idempotent; the
# superuser and the application user are made once, with the database).
ensure_accounts() {
  step="making sure of the replication, exporter and backup accounts"
  {
    ensure_role "$REPLICATION_USER" "LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE" "$REPLICATION_PASSWORD"
    ensure_role "$EXPORTER_USER" "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT 3" \
      "$EXPORTER_PASSWORD"
    ensure_role "$BACKUP_USER" "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION" "$BACKUP_PASSWORD"
    cat <<SQL
GRANT pg_monitor TO $(sql_name "$EXPORTER_USER");
ALTER ROLE $(sql_name "$EXPORTER_USER") SET default_transaction_read_only = on;
ALTER ROLE $(sql_name "$BACKUP_USER") SET default_transaction_read_only = on;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO $(sql_name "$REPLICATION_USER");
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO $(sql_name "$REPLICATION_USER");
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO $(sql_name "$REPLICATION_USER");
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO $(sql_name "$REPLICATION_USER");
SELECT current_setting('server_version_num')::int >= 140000 AS has_read_all_data
\\gset
\\if :has_read_all_data
GRANT pg_read_all_data TO $(sql_name "$BACKUP_USER");
\\else
\\connect $(sql_name "$DATABASE")
GRANT USAGE ON SCHEMA public TO $(sql_name "$BACKUP_USER");
GRANT SELECT ON ALL TABLES IN SCHEMA public TO $(sql_name "$BACKUP_USER");
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO $(sql_name "$BACKUP_USER");
ALTER DEFAULT PRIVILEGES FOR ROLE $(sql_name "$APP_USER") GRANT SELECT ON TABLES TO $(sql_name "$BACKUP_USER");
ALTER DEFAULT PRIVILEGES FOR ROLE $(sql_name "$APP_USER") GRANT SELECT ON SEQUENCES TO $(sql_name "$BACKUP_USER");
\\endif
SQL
  } | local_sql --dbname=postgres
}

wait_for_primary() {
  : "${PRIMARY_HOST:?}"
  port="${PRIMARY_PORT:-5432}"
  step="waiting for the primary at $PRIMARY_HOST:$port"
  until pg_isready --quiet --host="$PRIMARY_HOST" --port="$port"; do
    echo "bootstrap: waiting for the primary at $PRIMARY_HOST:$port"
    sleep 2
  done
}

# copy_primary DIR: a hot standby of the primary in DIR (pg_basebackup, as the replication user).
copy_primary() {
  wait_for_primary
  step="copying the primary (pg_basebackup)"
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup --host="$PRIMARY_HOST" --port="$port" \
    --username="$REPLICATION_USER" --no-password --pgdata="$1" --wal-method=stream --write-recovery-conf \
    --checkpoint=fast
  write_client_rules "$1"
}

# rejoin: PGDATA was a primary and this pod is a replica now (a failover fenced it): it must follow the new primary
# and never run as a second one. pg_rewind takes back what diverged (wal_log_hints is on) and makes it a standby;
# when it cannot (e.g. the WAL it needs is gone), a fresh copy is made, and the old directory is kept, never
# deleted, as $PGDATA.diverged-N (keep_diverged).
rejoin() {
  wait_for_primary
  step="rejoining the primary at $PRIMARY_HOST as a replica (pg_rewind)"
  # pg_rewind finishes a crashed server's recovery in single-user mode, on this directory's own postgresql.conf
  # (the server's is elsewhere): without wal_log_hints there, that run would turn it off and refuse the rewind.
  grep -qx 'wal_log_hints = on' "$PGDATA/postgresql.conf" 2>/dev/null || echo 'wal_log_hints = on' >> "$PGDATA/postgresql.conf"
  if PGPASSWORD="$REPLICATION_PASSWORD" pg_rewind --target-pgdata="$PGDATA" --write-recovery-conf \
    --source-server="host=$PRIMARY_HOST port=$port user=$REPLICATION_USER dbname=postgres"; then
    touch "$PGDATA/standby.signal"
    write_client_rules "$PGDATA"
    return
  fi
  rm -rf "$build"
  copy_primary "$build"
  keep_diverged "$PGDATA"
  move_into_place "$build" "$PGDATA"
}

check_image
install_tls
wait_for_role
check_data_directory "$PGDATA" PG_VERSION
if [ -n "$complete" ]; then
  write_client_rules "$PGDATA"
  if [ "$role" = replica ] && [ ! -f "$PGDATA/standby.signal" ]; then
    rejoin
  elif [ "$role" = primary ] && [ ! -f "$PGDATA/standby.signal" ]; then
    start_temporary_server "$PGDATA"
    ensure_accounts
    stop_temporary_server
  fi
  exit 0
fi

step="clearing what an earlier attempt left in $build"
rm -rf "$build"

if [ "$role" = replica ]; then
  copy_primary "$build"
else
  check_may_initialise
  step="initialising a new database (initdb)"
  initdb --pgdata="$build" --username="$ADMIN_USER" --encoding=UTF8 --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  write_client_rules "$build"
  start_temporary_server "$build"

  step="creating the application account and database"
  local_sql --dbname=postgres <<SQL
ALTER ROLE $(sql_name "$ADMIN_USER") PASSWORD $(sql_string "$ADMIN_PASSWORD");
CREATE ROLE $(sql_name "$APP_USER") LOGIN PASSWORD $(sql_string "$APP_PASSWORD");
CREATE DATABASE $(sql_name "$DATABASE") OWNER $(sql_name "$APP_USER");
SQL
  ensure_accounts

  if [ -n "${RESTORE_FILE:-}" ]; then
    step="restoring $RESTORE_FILE"
    PGHOST="$run_dir" sh "$here/restore-postgresql.sh"
  fi
  stop_temporary_server
fi

move_into_place "$build" "$PGDATA"
