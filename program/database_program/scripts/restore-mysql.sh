#!/bin/sh
# Load a backup into the new database before the server accepts clients: the official image runs this from
# /docker-entrypoint-initdb.d while its first-start server listens on the local socket only.
# Exits non-zero (and the server does not start) when the dump is missing or does not load.
#
# Environment: POD_INDEX (replicas skip the restore), RESTORE_FILE (a .sql.gz written by backup-mysql.sh), MYSQL_ROOT_PASSWORD, MYSQL_DATABASE; optional
# MYSQL_SOCKET when the server's socket is not the client's default.
set -eu
if [ "${POD_INDEX:-0}" != 0 ]; then
  echo "restore: a replica copies the primary instead"
  exit 0
fi
: "${RESTORE_FILE:?}" "${MYSQL_ROOT_PASSWORD:?}" "${MYSQL_DATABASE:?}"
export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
[ -f "$RESTORE_FILE" ] || { echo "restore: backup $RESTORE_FILE not found" >&2; exit 1; }
gzip -t "$RESTORE_FILE"
gunzip -c "$RESTORE_FILE" | mysql ${MYSQL_SOCKET:+--socket="$MYSQL_SOCKET"} --user=root "$MYSQL_DATABASE"
echo "restore: loaded $RESTORE_FILE into $MYSQL_DATABASE"
