#!/bin/sh
# Load a backup into the new database before the server accepts clients: the official image runs this from
# /docker-entrypoint-initdb.d (after the application user exists) while its first-start server listens on
# the local socket only. Objects end up owned by the application user, as if it had created them.
# Exits non-zero (and the server does not start) when the dump is missing or does not load.
#
# Environment: RESTORE_FILE (a .dump written by backup-postgresql.sh), POSTGRES_USER, POSTGRES_DB, APP_USER.
set -eu
: "${RESTORE_FILE:?}" "${POSTGRES_USER:?}" "${POSTGRES_DB:?}" "${APP_USER:?}"
[ -f "$RESTORE_FILE" ] || { echo "restore: backup $RESTORE_FILE not found" >&2; exit 1; }
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges --role="$APP_USER" \
  --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" "$RESTORE_FILE"
echo "restore: loaded $RESTORE_FILE into $POSTGRES_DB"
