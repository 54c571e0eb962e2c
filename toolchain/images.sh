#!/usr/bin/env bash
# Build the container images the local node runs, from Debian packages (no registry, no daemon): one recipe
# per image in toolchain/images/<name>.json, a root filesystem made by mmdebstrap, written as a docker-archive
# tar that `ctr -n k8s.io images import` reads (toolchain/images/build_image.py). Into
#   ${DBOP_CACHE:-$HOME/.cache/dbop}/images/<key>/
#     images.txt      one line per image: <ref> <tar file name>
#     pause-image     the ref of the pod sandbox (pause) image (also in images.txt)
#     <name>.tar      the docker-archive;  <name>.packages  the Debian packages (name version) inside it
# where <key> hashes this script (SUITE, IMAGES_REV) and toolchain/images/*.{json,py}. Idempotent: when all
# images are there it returns at once; a concurrent call waits for the running one (flock).
#
# Usage: toolchain/images.sh              build the missing images (or nothing); one timing line per image
#        toolchain/images.sh --print-dir  print the images directory and exit (no build)
#        toolchain/images.sh --check      exit 0 if every image is built, else 1
# Env:   DBOP_CACHE (cache root).
set -euo pipefail

# shellcheck source=toolchain/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SUITE=bookworm
# Debian package updates (security fixes) are picked up by a new key: bump IMAGES_REV, and the next run builds
# every image from the newest packages of $SUITE. A cache for the current key is never rebuilt by itself.
IMAGES_REV=1
PAUSE_RECIPE=catatonit
RECIPES="$DBOP_TOOLCHAIN_DIR/images"

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

images_key() {
    (
        cd "$DBOP_TOOLCHAIN_DIR" &&
            { echo images.sh; find images -maxdepth 1 -type f \( -name '*.json' -o -name '*.py' \); } |
            LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
    )
}
DIR="$DBOP_CACHE/images/$(images_key)"

recipe_names() { local r; for r in "$RECIPES"/*.json; do basename "$r" .json; done; }

is_complete() {
    [[ -f "$DIR/.complete" ]] || return 1
    local name
    for name in $(recipe_names); do [[ -f "$DIR/$name.tar" ]] || return 1; done
}

case "${1:-}" in
    --print-dir) echo "$DIR"; exit 0 ;;
    --check) is_complete; exit $? ;;
    "") ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
esac

if is_complete; then log "up to date: $DIR"; exit 0; fi

[[ $(id -u) == 0 ]] || die "building images needs root (mmdebstrap --mode=root installs packages in a chroot)"
need mmdebstrap; need flock util-linux; need python3

mkdir -p "$DIR/logs"
exec 9>"$DBOP_CACHE/images/.build.lock"
if ! flock -n 9; then
    log "another images.sh is running; waiting for it"
    flock 9
fi
if is_complete; then log "up to date: $DIR"; exit 0; fi

# build_one NAME: builds unless already there; prints a timing line; output in logs/NAME.log
build_one() {
    local name="$1" start rc
    if [[ -f "$DIR/$name.tar" ]]; then
        log "$(printf '%-20s already built' "$name")"
        return 0
    fi
    start=$SECONDS
    if PYTHONDONTWRITEBYTECODE=1 python3 "$RECIPES/build_image.py" build "$RECIPES/$name.json" "$SUITE" "$DIR" \
        >"$DIR/logs/$name.log" 2>&1; then
        log "$(printf '%-20s built in %4ds, %s' "$name" $((SECONDS - start)) "$(du -h "$DIR/$name.tar" | cut -f1)")"
    else
        rc=$?
        log "$(printf '%-20s FAILED after %ds (rc=%d); last lines of %s:' "$name" $((SECONDS - start)) "$rc" "$DIR/logs/$name.log")"
        tail -n 30 "$DIR/logs/$name.log" | sed 's/^/    /' >&2
        return 1
    fi
}

log "building into $DIR (logs in $DIR/logs)"
T0=$SECONDS
# The pause image first, then the server images: the node can start with them while the rest build.
for name in "$PAUSE_RECIPE" postgresql $(recipe_names | grep -vx -e "$PAUSE_RECIPE" -e postgresql); do
    build_one "$name" || die "build failed"
done

{
    for name in $(recipe_names); do
        echo "$(python3 "$RECIPES/build_image.py" ref "$RECIPES/$name.json") $name.tar"
    done
} >"$DIR/images.txt"
python3 "$RECIPES/build_image.py" ref "$RECIPES/$PAUSE_RECIPE.json" >"$DIR/pause-image"
date -u +%Y-%m-%dT%H:%M:%SZ >"$DIR/.complete"
log "done in $((SECONDS - T0))s: $DIR"
