#!/bin/sh
# Run once by the official postgres image on the primary's first start: the replication user, and a pg_hba.conf
# line that lets it stream WAL from other pods (the image's own line, `host all all all`, does not match
# replication connections). Replicas never run this: they start from a copy of the primary's data.
#
# Environment: POSTGRES_USER, REPLICATION_USER, REPLICATION_PASSWORD, PGDATA.
set -eu
: "${POSTGRES_USER:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}" "${PGDATA:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v user="$REPLICATION_USER" -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"user" WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication $REPLICATION_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
