#!/bin/sh
# Init container of every PostgreSQL pod (same image as the server): makes sure PGDATA holds a complete database
# before the server may start. A complete one is left alone. Otherwise a new one is built in $PGDATA.bootstrap,
# beside PGDATA on the same volume:
#   pod 0:     initdb, then the accounts and the application database through a temporary server that listens
#              on a local socket only, then (when RESTORE_FILE is set) the dump loaded and verified;
#   replicas:  a copy of the primary (pg_basebackup) that streams from it as a hot standby.
# Only when that is complete does it get the marker and move into place (one rename). Any failure exits non-zero:
# the kubelet runs this again, the server never starts on a partial or empty directory, and the reason goes to
# the termination log. Passwords come from the environment (secretKeyRef) and reach the server on stdin only.
#
# Environment: PGDATA POD_INDEX ADMIN_USER ADMIN_PASSWORD APP_USER APP_PASSWORD DATABASE REPLICATION_USER
# REPLICATION_PASSWORD; replicas: PRIMARY_HOST, optional PRIMARY_PORT; optional RESTORE_FILE, IMAGE_COMMANDS (what
# the image must carry), RUN_DIR (the temporary server's socket directory), TERMINATION_LOG.
set -eu
: "${PGDATA:?}" "${POD_INDEX:?}" "${ADMIN_USER:?}" "${ADMIN_PASSWORD:?}" "${APP_USER:?}" "${APP_PASSWORD:?}"
: "${DATABASE:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"
build="$PGDATA.bootstrap"
run_dir="${RUN_DIR:-/var/run/postgresql}"
here=$(dirname "$0")
temporary_server=""
# shellcheck source=bootstrap-lib.sh
. "$here/bootstrap-lib.sh"

finish() {
  status=$?
  if [ -n "$temporary_server" ]; then
    pg_ctl --pgdata="$build" --mode=immediate --wait stop >/dev/null 2>&1 || true
  fi
  if [ "$status" != 0 ]; then
    [ ! -f "$build/bootstrap-server.log" ] || cat "$build/bootstrap-server.log" >&2
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

check_image
keep_complete_database "$PGDATA" PG_VERSION

step="clearing what an earlier attempt left in $build"
rm -rf "$build"

if [ "$POD_INDEX" != 0 ]; then
  : "${PRIMARY_HOST:?}"
  port="${PRIMARY_PORT:-5432}"
  step="waiting for the primary at $PRIMARY_HOST:$port"
  until pg_isready --quiet --host="$PRIMARY_HOST" --port="$port"; do
    echo "bootstrap: waiting for the primary at $PRIMARY_HOST:$port"
    sleep 2
  done
  step="copying the primary (pg_basebackup)"
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup --host="$PRIMARY_HOST" --port="$port" \
    --username="$REPLICATION_USER" --no-password --pgdata="$build" --wal-method=stream --write-recovery-conf \
    --checkpoint=fast
else
  step="initialising a new database (initdb)"
  initdb --pgdata="$build" --username="$ADMIN_USER" --encoding=UTF8 --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  # The local socket is reachable from this pod's containers only; everything else needs a password.
  cat > "$build/pg_hba.conf" <<'HBA'
local all all trust
host replication all all scram-sha-256
host all all all scram-sha-256
HBA

  step="starting a temporary server on a local socket only"
  temporary_server=yes
  pg_ctl --pgdata="$build" --wait --silent --log="$build/bootstrap-server.log" \
    --options="-c listen_addresses='' -c unix_socket_directories=$run_dir -c log_min_error_statement=panic" start

  step="creating the accounts and the application database"
  local_sql --dbname=postgres <<SQL
ALTER ROLE $(sql_name "$ADMIN_USER") PASSWORD $(sql_string "$ADMIN_PASSWORD");
CREATE ROLE $(sql_name "$APP_USER") LOGIN PASSWORD $(sql_string "$APP_PASSWORD");
CREATE ROLE $(sql_name "$REPLICATION_USER") REPLICATION LOGIN PASSWORD $(sql_string "$REPLICATION_PASSWORD");
CREATE DATABASE $(sql_name "$DATABASE") OWNER $(sql_name "$APP_USER");
SQL

  if [ -n "${RESTORE_FILE:-}" ]; then
    step="restoring $RESTORE_FILE"
    PGHOST="$run_dir" sh "$here/restore-postgresql.sh"
  fi

  step="stopping the temporary server"
  pg_ctl --pgdata="$build" --mode=fast --wait --silent stop
  temporary_server=""
  rm -f "$build/bootstrap-server.log"
fi

move_into_place "$build" "$PGDATA"
