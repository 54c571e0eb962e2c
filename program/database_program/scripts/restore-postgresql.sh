#!/bin/sh
# Load a backup into the new database and verify it: run by bootstrap-postgresql.sh while its temporary server
# listens on a local socket only, after the application user exists. Objects end up owned by the application
# user, as if it had created them. Exits non-zero when the dump is missing, unreadable, does not load, or the
# loaded database lacks a table the dump has.
#
# Environment: RESTORE_FILE (a .dump written by backup-postgresql.sh), ADMIN_USER, DATABASE, APP_USER; PGHOST
# (the temporary server's socket directory).
set -eu
: "${RESTORE_FILE:?}" "${ADMIN_USER:?}" "${DATABASE:?}" "${APP_USER:?}"
[ -f "$RESTORE_FILE" ] || { echo "restore: backup $RESTORE_FILE not found" >&2; exit 1; }
# A truncated or corrupt archive has no readable table of contents.
contents=$(pg_restore --list "$RESTORE_FILE")
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges --role="$APP_USER" \
  --username="$ADMIN_USER" --dbname="$DATABASE" "$RESTORE_FILE"
# Table of contents lines: "<id>; <oid> <oid> TABLE <schema> <name> <owner>" (TABLE DATA lines are the rows).
expected=$(printf '%s\n' "$contents" | grep -E '^[0-9]+; [0-9]+ [0-9]+ TABLE ' | grep -vc ' TABLE DATA ' || true)
loaded=$(psql --no-psqlrc --tuples-only --no-align --set=ON_ERROR_STOP=1 --username="$ADMIN_USER" \
  --dbname="$DATABASE" --command="SELECT count(*) FROM pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
[ "$loaded" = "$expected" ] \
  || { echo "restore: the dump has $expected tables but $loaded were loaded" >&2; exit 1; }
echo "restore: loaded $RESTORE_FILE into $DATABASE ($loaded tables)"
