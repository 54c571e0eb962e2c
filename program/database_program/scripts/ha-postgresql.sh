#!/bin/sh
# What the operator runs in a PostgreSQL pod's server container (pods/exec) to fail over or switch over. The
# operator decides; this only acts, as the superuser on the local socket.
#   position  `standby <received LSN> <replayed LSN>` for a standby, `primary` for a server out of recovery
#   fence     a server running as primary stops at once (fast shutdown: sessions ended, the remaining WAL sent to
#             the connected standbys); prints `fenced <LSN>`, where its WAL ended before; a standby is left alone
#   catch-up LSN  waits (at most 60 s) until this standby has received LSN
#   promote   a standby becomes the primary (it replays all it received first) and is writable when this returns,
#             its new timeline checkpointed; one out of recovery already is left alone
#   follow    a standby reconnects at once (its WAL receiver restarts) through the read-write Service, which now
#             leads to the new primary, and follows its timeline (recovery_target_timeline = latest)
#
# Environment: ADMIN_USER; optional RUN_DIR (the server's socket directory, default /var/run/postgresql), PGDATA.
set -eu
: "${ADMIN_USER:?}"
local_sql() {
  psql --no-psqlrc --tuples-only --no-align --set=ON_ERROR_STOP=1 --host "${RUN_DIR:-/var/run/postgresql}" \
    --username "$ADMIN_USER" --dbname postgres --command "$1"
}
in_recovery() { [ "$(local_sql "SELECT pg_is_in_recovery()")" = t ]; }

case "${1:-}" in
  position)
    if in_recovery; then
      local_sql "SELECT 'standby ' || COALESCE(pg_last_wal_receive_lsn(), '0/0') || ' ' || COALESCE(pg_last_wal_replay_lsn(), '0/0')"
    else
      echo primary
    fi ;;
  fence)
    if ! in_recovery; then
      echo "fenced $(local_sql "SELECT pg_current_wal_lsn()")"
      pg_ctl stop --pgdata="${PGDATA:?}" --mode=fast --wait --timeout=20 >/dev/null
    fi ;;
  catch-up)
    tries=0
    until [ "$(local_sql "SELECT pg_last_wal_receive_lsn() >= '${2:?}'::pg_lsn")" = t ]; do
      tries=$((tries + 1))
      [ "$tries" -lt 120 ] || { echo "did not receive $2 within 60 s" >&2; exit 1; }
      sleep 0.5
    done ;;
  promote)
    if in_recovery; then
      [ "$(local_sql "SELECT pg_promote(true, 60)")" = t ] || { echo "promotion did not finish" >&2; exit 1; }
      # The new timeline reaches the control file only at a checkpoint: before it, pg_rewind of the old primary
      # against this one would find "the same timeline" and rewind nothing.
      local_sql "CHECKPOINT" >/dev/null
    fi ;;
  follow)
    if in_recovery; then
      local_sql "SELECT pg_terminate_backend(pid) FROM pg_stat_wal_receiver" >/dev/null
    fi ;;
  *) echo "usage: $0 position|fence|catch-up LSN|promote|follow" >&2; exit 2 ;;
esac
