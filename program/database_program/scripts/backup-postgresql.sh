#!/bin/sh
# Back up one PostgreSQL database: consistent dump (pg_dump's snapshot) in the compressed custom format,
# verify, publish atomically, prune old scheduled dumps. Runs in the database's own image.
# Exits non-zero on any failure, leaving no file that looks like a backup; never prints the password.
#
# Environment: DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD BACKUP_DIR RETENTION_MINUTES; optional BACKUP_NAME
# (an on-demand backup's name; default scheduled-<UTC time>, the only dumps retention prunes) and
# TERMINATION_LOG (where the result is reported as JSON; default /dev/termination-log).
set -eu
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}" "${BACKUP_DIR:?}" "${RETENTION_MINUTES:?}"
export PGPASSWORD="$DB_PASSWORD"   # read by the client; keeps the password off the command line
umask 077

name="${BACKUP_NAME:-scheduled-$(date -u +%Y%m%dT%H%M%SZ)}"
case "$name" in */* | .* | "") echo "backup: invalid backup name '$name'" >&2; exit 2 ;; esac
final="$BACKUP_DIR/$name.dump"
partial="$BACKUP_DIR/.partial-$name.dump"
[ ! -e "$final" ] || { echo "backup: $final exists already; a backup is never overwritten" >&2; exit 1; }
trap 'rm -f "$partial"' EXIT

# A network-policy engine admits a new pod's address a moment after the pod starts: wait for the server to
# answer before dumping (SERVER_WAIT_TRIES tries 2 s apart: 20 s unless set).
tries=0
until pg_isready --quiet --host="$DB_HOST" --port="$DB_PORT" --timeout=2; do
  tries=$((tries + 1))
  [ "$tries" -lt "${SERVER_WAIT_TRIES:-10}" ] || { echo "backup: no answer from $DB_HOST:$DB_PORT" >&2; exit 1; }
  sleep 2
done
pg_dump --host="$DB_HOST" --port="$DB_PORT" --username="$DB_USER" --dbname="$DB_NAME" \
  --format=custom --compress=6 --no-password --file="$partial"
# Verify the artifact itself: a truncated or corrupt archive has no readable table of contents.
pg_restore --list "$partial" > /dev/null
sync "$partial"
mv "$partial" "$final"
size=$(wc -c < "$final" | tr -d ' ')
echo "backup: wrote $final ($size bytes)"
printf '{"artifact":"%s","size":%s}\n' "$final" "$size" > "${TERMINATION_LOG:-/dev/termination-log}" \
  || echo "backup: could not write the result to ${TERMINATION_LOG:-/dev/termination-log}" >&2

find "$BACKUP_DIR" -maxdepth 1 -name 'scheduled-*.dump' -mmin "+$RETENTION_MINUTES" -print -delete
# Leftovers of runs that were killed (a run ends within the Job's 6-hour deadline).
find "$BACKUP_DIR" -maxdepth 1 -name '.partial-*' -mmin +1440 -delete
