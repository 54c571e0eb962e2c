#!/bin/sh
# The server's certificate and key: a private copy of the Secret volume's, which the server reads.
#   tls.sh install   (bootstrap) copy them before the server starts;
#   tls.sh watch postgresql|mysql
#                    (the tls-reload container) every RELOAD_SECONDS, copy them again when the Secret volume
#                    changed (the operator renewed the certificate) and make the server reread them through the
#                    local socket (RELOAD_STATEMENT): no restart. A reload that fails (the server is starting) is
#                    tried again on the next round; the old certificate stays in use meanwhile.
# The copy is the server user's own, mode 0600 (PostgreSQL refuses a key file others may read), and each file is
# replaced by a rename, so the server never reads half a file.
#
# On a replica, watch also moves replication made before TLS to TLS verified against the CA, never before the primary
# serves it (the rolling update restarts the replicas before the primary): a MariaDB/MySQL replica (replication
# without TLS) once it cannot go on without, when the primary requires TLS or is away; a PostgreSQL standby (libpq's
# `prefer`: TLS unverified, or none) once a verified connection to the primary it streams from succeeds.
#
# Environment: SECRET_DIR, PRIVATE_DIR; watch: RELOAD_STATEMENT, RELOAD_SECONDS, TLS_CA_FILE, ADMIN_USER,
# REPLICATION_USER and REPLICATION_PASSWORD (PostgreSQL) or ADMIN_PASSWORD (MariaDB/MySQL), optional PGHOST /
# MYSQL_UNIX_PORT (the server's socket).
set -eu
: "${SECRET_DIR:?}" "${PRIVATE_DIR:?}"
umask 077

fingerprint() { cat "$1/tls.crt" "$1/tls.key" 2>/dev/null | cksum; }

install() {
  for file in tls.crt tls.key; do
    cp "$SECRET_DIR/$file" "$PRIVATE_DIR/.$file.new"
    mv "$PRIVATE_DIR/.$file.new" "$PRIVATE_DIR/$file"
  done
}

local_mysql() {
  MYSQL_PWD="$ADMIN_PASSWORD" "$(command -v mariadb || command -v mysql)" \
    --socket="${MYSQL_UNIX_PORT:-/var/run/mysqld/mysqld.sock}" --user=root "$@"
}

local_psql() {
  psql --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 --username="$ADMIN_USER" \
    --dbname=postgres "$@"
}

reload() {
  if [ "$family" = postgresql ]; then
    local_psql --command="$RELOAD_STATEMENT" >/dev/null
  else
    local_mysql --execute="$RELOAD_STATEMENT"
  fi
}

# replication_tls: a MariaDB/MySQL replica whose replication uses no TLS and is not running gets TLS, verified
# (MariaDB names the settings MASTER_*, MySQL SOURCE_*); a PostgreSQL standby: standby_tls.
replication_tls() {
  [ "$family" = mysql ] || { standby_tls; return; }
  # Replicas only: they are read-only (the primary can be any pod, and a promoted one keeps its old source).
  [ "$(local_mysql --batch --skip-column-names --execute="SELECT @@GLOBAL.read_only" 2>/dev/null)" = 1 ] || return 0
  status=$(local_mysql --execute="SHOW REPLICA STATUS\G" 2>/dev/null) || return 0
  echo "$status" | grep -Eq "(Master|Source)_SSL_Allowed: No" || return 0
  ! echo "$status" | grep -Eq "(Slave|Replica)_IO_Running: Yes" || return 0
  if echo "$status" | grep -q "Master_SSL_Allowed"; then
    prefix=MASTER change="CHANGE MASTER TO"
  else
    prefix=SOURCE change="CHANGE REPLICATION SOURCE TO"
  fi
  ca=$(printf "'%s'" "$(printf %s "$TLS_CA_FILE" | sed "s/'/''/g")")
  local_mysql --execute="STOP REPLICA; $change ${prefix}_SSL=1, ${prefix}_SSL_CA=$ca,
    ${prefix}_SSL_VERIFY_SERVER_CERT=1; START REPLICA" \
    && echo "tls-reload: replication now uses TLS, verified against the Database's CA"
}

# standby_tls: a PostgreSQL standby whose primary_conninfo does not verify (written before TLS, without sslmode)
# gets `sslmode=verify-full` and the CA (TLS_CA_FILE, where the server container sees it), once the primary it
# streams from accepts a connection verified against the same CA (the replication account's, its password in the
# environment only; the CA from the Secret volume); the reload restarts the WAL receiver with them
# (PostgreSQL 13+). The conninfo (it holds the password) goes to psql on its standard input, never as an argument.
standby_tls() {
  [ "$(local_psql --command="SELECT pg_is_in_recovery()" 2>/dev/null)" = t ] || return 0
  conninfo=$(local_psql --command="SHOW primary_conninfo" 2>/dev/null) || return 0
  ! printf '%s\n' "$conninfo" | grep -Eq "sslmode='?verify-full" || return 0
  sender=$(local_psql --field-separator=' ' \
    --command="SELECT sender_host, sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'" 2>/dev/null)
  [ -n "$sender" ] || return 0
  set -- $sender
  PGPASSWORD="$REPLICATION_PASSWORD" PGSSLMODE=verify-full PGSSLROOTCERT="$SECRET_DIR/ca.crt" PGCONNECT_TIMEOUT=5 \
    psql --no-psqlrc --quiet --host="$1" --port="$2" --username="$REPLICATION_USER" --dbname=postgres \
    --no-password --command="SELECT 1" >/dev/null 2>&1 || return 0
  verified=$(printf "%s sslmode=verify-full sslrootcert='%s'" "$conninfo" "$TLS_CA_FILE" | sed "s/'/''/g")
  printf "ALTER SYSTEM SET primary_conninfo = '%s';\nSELECT pg_reload_conf();\n" "$verified" | local_psql >/dev/null \
    && echo "tls-reload: streaming from the primary now verifies its certificate against the Database's CA"
}

case "${1:-}" in
  install)
    install
    ;;
  watch)
    family="${2:?tls.sh watch postgresql|mysql}"
    : "${RELOAD_STATEMENT:?}" "${RELOAD_SECONDS:?}"
    pending=""
    # The container's first process: without a handler SIGTERM would be ignored, and every stop of the pod would
    # wait out its whole grace period. The sleep runs in the background so that the handler runs at once.
    trap 'exit 0' TERM INT
    while :; do
      if [ "$(fingerprint "$SECRET_DIR")" != "$(fingerprint "$PRIVATE_DIR")" ]; then
        install
        pending=yes
      fi
      replication_tls || echo "tls-reload: replication could not be moved to TLS; trying again" >&2
      if [ -n "$pending" ]; then
        if reload; then
          pending=""
          echo "tls-reload: the server reads the renewed certificate"
        else
          echo "tls-reload: the server did not reread its certificate; trying again" >&2
        fi
      fi
      sleep "$RELOAD_SECONDS" &
      wait $!
    done
    ;;
  *)
    echo "usage: tls.sh install | tls.sh watch postgresql|mysql" >&2
    exit 2
    ;;
esac
