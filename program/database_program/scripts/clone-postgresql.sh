#!/bin/sh
# Init container of every PostgreSQL pod. A replica (POD_INDEX > 0) with no data yet copies the primary with a
# base backup and becomes a hot standby streaming from it (pg_basebackup -R writes standby.signal and the
# connection settings). The primary, and a replica that has data already, start as they are.
# The copy is made beside PGDATA and moved into place only when complete: a killed copy is started again.
#
# Environment: POD_INDEX, PGDATA, PRIMARY_HOST, REPLICATION_USER, REPLICATION_PASSWORD; optional PRIMARY_PORT.
set -eu
: "${POD_INDEX:?}" "${PGDATA:?}"
if [ "$POD_INDEX" = 0 ]; then
  echo "clone: pod 0 is the primary"
  exit 0
fi
if [ -s "$PGDATA/PG_VERSION" ]; then
  echo "clone: $PGDATA has data already"
  exit 0
fi
: "${PRIMARY_HOST:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"
port="${PRIMARY_PORT:-5432}"
until pg_isready --quiet --host "$PRIMARY_HOST" --port "$port"; do
  echo "clone: waiting for the primary at $PRIMARY_HOST:$port"
  sleep 2
done
copy="$PGDATA.clone"
rm -rf "$copy"
PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup --host "$PRIMARY_HOST" --port "$port" \
  --username "$REPLICATION_USER" --pgdata "$copy" --wal-method=stream --write-recovery-conf --checkpoint=fast
rm -rf "$PGDATA"
mv "$copy" "$PGDATA"
echo "clone: replica of $PRIMARY_HOST:$port ready in $PGDATA"
