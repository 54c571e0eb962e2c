# Sourced by bootstrap-postgresql.sh and bootstrap-mysql.sh: what building a data directory means for both
# engines. `step` always says what is being done, for the failure report.
MARKER=.bootstrap-complete
step="checking the image"

# A failure says which step failed, on stderr and in the container's termination message.
report_failure() {
  echo "bootstrap: failed while $step (exit $1); the server does not start" >&2
  echo "bootstrap failed while $step" > "${TERMINATION_LOG:-/dev/termination-log}" 2>/dev/null || true
}

# The image carries every command of the image contract (IMAGE_COMMANDS, from stacks-config).
check_image() {
  for command in ${IMAGE_COMMANDS:-}; do
    command -v "$command" >/dev/null 2>&1 || { echo "bootstrap: the image has no '$command' (image contract)" >&2; exit 1; }
  done
}

# check_data_directory DIR FILE: sets `complete` when DIR holds a complete database: it has the marker, or it
# was initialised before this bootstrap existed (by an image's entrypoint: it has FILE) and is kept as it is.
# A non-empty DIR that is neither is refused, never touched. (Not a test in an `if`: `set -e` must hold inside.)
complete=""
check_data_directory() {
  step="checking $1"
  if [ -f "$1/$MARKER" ]; then
    echo "bootstrap: $1 holds a complete database"
    complete=yes
  elif [ -e "$1/$2" ]; then
    touch "$1/$MARKER"
    echo "bootstrap: $1 holds a database made before the bootstrap; adopted as it is"
    complete=yes
  elif [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then
    echo "bootstrap: $1 is neither empty nor a database; it is left for a person to look at" >&2
    exit 1
  fi
}

# install_tls: the server's private copy of its certificate and key, before any server starts (tls.sh).
install_tls() {
  step="copying the server's certificate and key"
  sh "$here/tls.sh" install
}

# move_into_place BUILD DIR: the complete BUILD gets the marker and becomes DIR in one rename (same volume).
move_into_place() {
  step="moving the new database into place"
  touch "$1/$MARKER"
  sync
  [ ! -d "$2" ] || rmdir "$2"
  mv "$1" "$2"
  sync
  echo "bootstrap: $2 is complete"
}

# wait_for_role: sets `role` to the role the operator gave this pod (its role label, read through the downward API
# at ROLE_FILE): primary or replica. A new pod has none until the operator has decided; nothing is built or
# started before that, so no pod ever decides by itself that it is the primary.
role=""
wait_for_role() {
  step="waiting for the operator to give this pod its role"
  role=$(cat "${ROLE_FILE:?}" 2>/dev/null || true)
  until [ -n "$role" ]; do
    echo "bootstrap: waiting for the operator to give this pod its role (label database.example.com/role)"
    sleep 1
    role=$(cat "$ROLE_FILE" 2>/dev/null || true)
  done
  echo "bootstrap: this pod is a $role"
}

# check_may_initialise: a primary may make a new, empty database only as the first primary of a new Database
# (the operator's may-initialise annotation, at MAY_INITIALISE_FILE). A primary whose volume is empty later (lost,
# deleted) must never come back as an empty database that replicas and clients would take for the real one: it
# fails and is retried, the operator promotes a replica, and this pod then copies that one.
check_may_initialise() {
  step="checking that this primary may initialise a new database"
  [ "$(cat "${MAY_INITIALISE_FILE:?}" 2>/dev/null || true)" = true ] || {
    echo "bootstrap: this primary's data directory is empty, but the Database has had a primary before: no new," \
      "empty database is made in its place (the operator promotes a replica)" >&2
    exit 1
  }
}

# keep_diverged DIR: a data directory that cannot rejoin the primary (an old primary with transactions the new one
# does not have) is moved aside as DIR.diverged-N, never deleted: those never-acknowledged transactions (in
# synchronous mode; the last acknowledged ones in asynchronous mode) are for a person to look at, and to remove.
keep_diverged() {
  step="keeping the diverged data directory $1"
  number=1
  while [ -e "$1.diverged-$number" ]; do number=$((number + 1)); done
  mv "$1" "$1.diverged-$number"
  sync
  echo "bootstrap: $1 diverged from the primary; kept as $1.diverged-$number, a fresh copy follows"
}
