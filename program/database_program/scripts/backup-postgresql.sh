#!/bin/sh
# Back up one PostgreSQL database: consistent dump in custom (compressed) format, verify, publish atomically,
# prune old dumps. Runs in the database's own image. Exits non-zero on any failure; never prints the password.
set -eu
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}" "${BACKUP_DIR:?}" "${RETENTION_MINUTES:?}"
export PGPASSWORD="$DB_PASSWORD"   # read by the client; keeps the password off the command line

stamp=$(date -u +%Y%m%dT%H%M%SZ)
partial="$BACKUP_DIR/.partial-$DB_NAME-$stamp.dump"
final="$BACKUP_DIR/$DB_NAME-$stamp.dump"
trap 'rm -f "$partial"' EXIT

pg_dump --host="$DB_HOST" --port="$DB_PORT" --username="$DB_USER" --dbname="$DB_NAME" \
  --format=custom --compress=6 --no-password --file="$partial"
pg_restore --list "$partial" > /dev/null   # a truncated or corrupt archive fails here
mv "$partial" "$final"
echo "backup: wrote $final ($(wc -c < "$final") bytes)"

find "$BACKUP_DIR" -maxdepth 1 -name "$DB_NAME-*.dump" -mmin "+$RETENTION_MINUTES" -print -delete
