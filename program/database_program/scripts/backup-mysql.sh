#!/bin/sh
# Back up one MySQL database: consistent dump, compress, verify, publish atomically, prune old dumps.
# Runs in the database's own image. Exits non-zero on any failure; never prints the password.
set -eu
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}" "${BACKUP_DIR:?}" "${RETENTION_MINUTES:?}"
export MYSQL_PWD="$DB_PASSWORD"   # read by the client; keeps the password off the command line

stamp=$(date -u +%Y%m%dT%H%M%SZ)
partial="$BACKUP_DIR/.partial-$DB_NAME-$stamp.sql"
final="$BACKUP_DIR/$DB_NAME-$stamp.sql.gz"
trap 'rm -f "$partial" "$partial.gz"' EXIT

mysqldump --host="$DB_HOST" --port="$DB_PORT" --user="$DB_USER" \
  --single-transaction --routines --triggers --events --databases "$DB_NAME" --result-file="$partial"
# mysqldump writes this trailer only when the dump ran to the end.
tail -n 1 "$partial" | grep -q '^-- Dump completed' || { echo "backup: dump of $DB_NAME is incomplete" >&2; exit 1; }
gzip -9 "$partial"
gzip -t "$partial.gz"
mv "$partial.gz" "$final"
echo "backup: wrote $final ($(wc -c < "$final") bytes)"

find "$BACKUP_DIR" -maxdepth 1 -name "$DB_NAME-*.sql.gz" -mmin "+$RETENTION_MINUTES" -print -delete
