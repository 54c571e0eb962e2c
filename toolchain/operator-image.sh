#!/usr/bin/env bash
# Build the operator's image from the repository's Dockerfile with buildah (no daemon, no registry), on a
# Python base made from Debian packages like the node's images (toolchain/operator-image/python.json, built by
# toolchain/images/build_image.py) and the Pulumi binaries toolchain/build.sh built (a build context that
# replaces the Dockerfile's toolchain stage). Into
#   ${DBOP_CACHE:-$HOME/.cache/dbop}/operator-image/<key>/
#     images.txt          <ref> database-operator.tar   (what `cluster.sh import-images` reads)
#     database-operator.tar, build.log, figures   (the docker-archive; the build's log; size and build time)
# where <key> hashes everything the image is made of: the Dockerfile, every file it copies, the toolchain's key
# and the base's recipe. Nothing changed, nothing is built. buildah's storage is $DBOP_CACHE/buildah.
#
# Usage: toolchain/operator-image.sh              build unless built for the current inputs
#        toolchain/operator-image.sh --print-dir  print the image's directory (no build)
#        toolchain/operator-image.sh --print-ref  print the image's ref (no build)
#        toolchain/operator-image.sh --check      exit 0 iff the image is built
# Env:   DBOP_CACHE (cache root).
set -euo pipefail

# shellcheck source=toolchain/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SUITE=bookworm
REPO="$(cd "$DBOP_TOOLCHAIN_DIR/.." && pwd)"
RECIPE="$DBOP_TOOLCHAIN_DIR/operator-image/python.json"
# What the Dockerfile's final stage copies (keep in step with its COPY lines); the toolchain stage's inputs are
# covered by DBOP_TOOLCHAIN_KEY.
COPIED=(Dockerfile .dockerignore pyproject.toml README.md api program operator stacks-config stacks-config-local crds)
KEEP_BUILDS=3   # other checkouts (worktrees, branches) may use the others
TOOLCHAIN_BINARIES=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-kubernetes)

log() { printf '[operator-image] %s\n' "$*" >&2; }
die() { printf '[operator-image] ERROR: %s\n' "$*" >&2; exit 1; }

base_key() { (cd "$DBOP_TOOLCHAIN_DIR" && printf '%s\0' operator-image/python.json images/build_image.py | dbop_hash_files); }
image_key() {
    {
        echo "toolchain $DBOP_TOOLCHAIN_KEY base $(base_key)"
        (cd "$REPO" && find "${COPIED[@]}" -type f -not -name '*.pyc' -not -path '*/__pycache__/*' -print0 | dbop_hash_files)
    } | sha256sum | cut -c1-16
}
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)"
KEY="$(image_key)"
DIR="$DBOP_CACHE/operator-image/$KEY"
BASE_DIR="$DBOP_CACHE/operator-image/base-$(base_key)"
REF="localhost/database-operator:$VERSION-$KEY"

is_complete() { [[ -f "$DIR/images.txt" && -f "$DIR/database-operator.tar" ]]; }

case "${1:-}" in
    --print-dir) echo "$DIR"; exit 0 ;;
    --print-ref) echo "$REF"; exit 0 ;;
    --check) is_complete; exit $? ;;
    "") ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
esac

if is_complete; then log "up to date: $REF"; exit 0; fi

[[ $(id -u) == 0 ]] || die "building the image needs root (mmdebstrap for the base, buildah's storage)"
"$DBOP_TOOLCHAIN_DIR/build.sh" --check || die "the toolchain is not built: run toolchain/build.sh"
need buildah; need mmdebstrap; need flock util-linux

mkdir -p "$DBOP_CACHE/operator-image"
exec 9>"$DBOP_CACHE/operator-image/.build.lock"
flock 9
if is_complete; then log "up to date: $REF"; exit 0; fi

T0=$SECONDS
if [[ ! -f "$BASE_DIR/python.tar" ]]; then
    log "building the base $(python3 "$DBOP_TOOLCHAIN_DIR/images/build_image.py" ref "$RECIPE") from Debian packages"
    mkdir -p "$BASE_DIR"
    python3 "$DBOP_TOOLCHAIN_DIR/images/build_image.py" build "$RECIPE" "$SUITE" "$BASE_DIR" >"$BASE_DIR/build.log" 2>&1 ||
        { tail -n 30 "$BASE_DIR/build.log" >&2; die "the base image failed (log: $BASE_DIR/build.log)"; }
fi
BASE_REF="$(python3 "$DBOP_TOOLCHAIN_DIR/images/build_image.py" ref "$RECIPE")"
dbop_buildah pull --quiet "docker-archive:$BASE_DIR/python.tar" >/dev/null

WORK="$(mktemp -d "$DBOP_CACHE/operator-image/.work-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/toolchain/out" "$DIR"
for binary in "${TOOLCHAIN_BINARIES[@]}"; do cp -l "$DBOP_TOOLCHAIN_BIN/$binary" "$WORK/toolchain/out/"; done

# RUN steps use the host's network (pip reaches PyPI) and its CA bundle and pip.conf, as pip on this machine does.
log "building $REF (log: $DIR/build.log)"
T1=$SECONDS
mounts=()
for file in /etc/ssl/certs /etc/pip.conf; do [[ -e "$file" ]] && mounts+=(--volume "$file:$file:ro"); done
dbop_buildah bud --isolation chroot --network host --pull=never "${mounts[@]}" \
    --build-arg "PYTHON_BASE=$BASE_REF" --build-context "toolchain=$WORK/toolchain" \
    --tag "$REF" "$REPO" >"$DIR/build.log" 2>&1 ||
    { tail -n 30 "$DIR/build.log" >&2; die "buildah bud failed (log: $DIR/build.log)"; }
rm -f "$DIR/database-operator.tar"
dbop_buildah push --quiet "$REF" "docker-archive:$DIR/database-operator.tar:$REF" >/dev/null
dbop_buildah rmi "$REF" >/dev/null   # the archive is the cache; the storage keeps only the base's layers
dbop_buildah rmi --prune >/dev/null   # and no base an earlier build replaced
size="$(du -m "$DIR/database-operator.tar" | cut -f1)"
printf 'image %s\nsize %s MB\nbuild %ss (base and toolchain ready)\ntotal %ss\n' \
    "$REF" "$size" $((SECONDS - T1)) $((SECONDS - T0)) >"$DIR/figures"
echo "$REF database-operator.tar" >"$DIR/images.txt"   # last: images.txt means "built"
# Every change to what the image copies is a new key (~660 MB each): keep the newest KEEP_BUILDS.
find "$DBOP_CACHE/operator-image" -mindepth 2 -maxdepth 2 -name images.txt -printf '%T@ %h\n' | sort -rn |
    tail -n +$((KEEP_BUILDS + 1)) | while read -r _ old; do rm -rf "$old"; done
log "built $REF in $((SECONDS - T0))s, $size MB"
