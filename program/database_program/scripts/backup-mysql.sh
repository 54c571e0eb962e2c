#!/bin/sh
# Back up one MariaDB/MySQL database: consistent dump (one transaction), compress, verify, publish atomically,
# prune old scheduled dumps. Runs in the database's own image (the same client as the server).
# Exits non-zero on any failure, leaving no file that looks like a backup; never prints the password. Runs as the
# backup account (read and lock grants only): no PROCESS privilege, hence no tablespaces in the dump (the
# application's tables are what is restored).
#
# Environment: DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD BACKUP_DIR RETENTION_MINUTES; optional CLIENT_TLS_OPTIONS
# (the client's TLS options: the CA and verification of the server's certificate), BACKUP_NAME
# (an on-demand backup's name; default scheduled-<UTC time>, the only dumps retention prunes) and
# TERMINATION_LOG (where the result is reported as JSON; default /dev/termination-log).
set -eu
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}" "${BACKUP_DIR:?}" "${RETENTION_MINUTES:?}"
export MYSQL_PWD="$DB_PASSWORD"   # read by the client; keeps the password off the command line
umask 077

name="${BACKUP_NAME:-scheduled-$(date -u +%Y%m%dT%H%M%SZ)}"
case "$name" in */* | .* | "") echo "backup: invalid backup name '$name'" >&2; exit 2 ;; esac
final="$BACKUP_DIR/$name.sql.gz"
partial="$BACKUP_DIR/.partial-$name.sql"
[ ! -e "$final" ] || { echo "backup: $final exists already; a backup is never overwritten" >&2; exit 1; }
trap 'rm -f "$partial" "$partial.gz"' EXIT

# MariaDB's own name where the image has it (MariaDB 11 images have no mysqldump), else MySQL's.
dump=$(command -v mariadb-dump || command -v mysqldump)
# MySQL 8 records GTIDs in dumps by default, which a fresh server refuses; MariaDB's client has no such option.
gtid=""
if "$dump" --help 2>/dev/null | grep -q -- '--set-gtid-purged'; then gtid="--set-gtid-purged=OFF"; fi
# A network-policy engine admits a new pod's address a moment after the pod starts: wait for the server to
# answer before dumping (SERVER_WAIT_TRIES tries 2 s apart: 20 s unless set).
admin=$(command -v mariadb-admin || command -v mysqladmin)
tries=0
# shellcheck disable=SC2086  # CLIENT_TLS_OPTIONS: how the client verifies the server's certificate, or nothing
until "$admin" ping --host="$DB_HOST" --port="$DB_PORT" --user="$DB_USER" ${CLIENT_TLS_OPTIONS:-} --connect-timeout=2 \
  --silent >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt "${SERVER_WAIT_TRIES:-10}" ] || { echo "backup: no answer from $DB_HOST:$DB_PORT" >&2; exit 1; }
  sleep 2
done
# shellcheck disable=SC2086  # $gtid is one option or nothing; CLIENT_TLS_OPTIONS a list of options
"$dump" --host="$DB_HOST" --port="$DB_PORT" --user="$DB_USER" $gtid ${CLIENT_TLS_OPTIONS:-} \
  --single-transaction --routines --triggers --events --no-tablespaces --result-file="$partial" "$DB_NAME"
gzip -9 "$partial"
# Verify the artifact itself: intact compression and the trailer mysqldump writes only when it ran to the end.
gunzip -c "$partial.gz" | tail -n 1 | grep -q '^-- Dump completed' \
  || { echo "backup: the dump of $DB_NAME is incomplete" >&2; exit 1; }
sync "$partial.gz"
mv "$partial.gz" "$final"
size=$(wc -c < "$final" | tr -d ' ')
echo "backup: wrote $final ($size bytes)"
printf '{"artifact":"%s","size":%s}\n' "$final" "$size" > "${TERMINATION_LOG:-/dev/termination-log}" \
  || echo "backup: could not write the result to ${TERMINATION_LOG:-/dev/termination-log}" >&2

find "$BACKUP_DIR" -maxdepth 1 -name 'scheduled-*.sql.gz' -mmin "+$RETENTION_MINUTES" -print -delete
# Leftovers of runs that were killed (a run ends within the Job's 6-hour deadline).
find "$BACKUP_DIR" -maxdepth 1 -name '.partial-*' -mmin +1440 -delete
