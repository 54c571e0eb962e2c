#!/bin/sh
# Load a backup into the new database and verify it: run by bootstrap-mysql.sh while its temporary server
# listens on a local socket only. Exits non-zero when the dump is missing, truncated, does not load, or the loaded
# database lacks a table the dump has.
#
# Environment: RESTORE_FILE (a .sql.gz written by backup-mysql.sh), ADMIN_PASSWORD, DATABASE, MYSQL_SOCKET (the
# temporary server's socket).
set -eu
: "${RESTORE_FILE:?}" "${ADMIN_PASSWORD:?}" "${DATABASE:?}" "${MYSQL_SOCKET:?}"
export MYSQL_PWD="$ADMIN_PASSWORD"
client=$(command -v mariadb || command -v mysql)
local_sql() { "$client" --socket="$MYSQL_SOCKET" --user=root --batch --skip-column-names "$@"; }
[ -f "$RESTORE_FILE" ] || { echo "restore: backup $RESTORE_FILE not found" >&2; exit 1; }
gzip -t "$RESTORE_FILE" || { echo "restore: $RESTORE_FILE is not an intact gzip file" >&2; exit 1; }
# The dump tool writes this trailer only when it ran to the end.
gunzip -c "$RESTORE_FILE" | tail -n 1 | grep -q '^-- Dump completed' \
  || { echo "restore: $RESTORE_FILE is incomplete (no end-of-dump trailer)" >&2; exit 1; }
gunzip -c "$RESTORE_FILE" | local_sql "$DATABASE"
expected=$(gunzip -c "$RESTORE_FILE" | grep -c '^-- Table structure for table ' || true)
loaded=$(local_sql --execute="SELECT COUNT(*) FROM information_schema.TABLES
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'" "$DATABASE")
[ "$loaded" = "$expected" ] \
  || { echo "restore: the dump has $expected tables but $loaded were loaded" >&2; exit 1; }
echo "restore: loaded $RESTORE_FILE into $DATABASE ($loaded tables)"
