# Shared by build.sh, env.sh, cluster.sh and images.sh (sourced, bash only). Defines:
#   DBOP_TOOLCHAIN_DIR  this directory (toolchain/ in the repo)
#   DBOP_CACHE          ${DBOP_CACHE:-$HOME/.cache/dbop}
#   DBOP_TOOLCHAIN_KEY  hash of versions.env + toolchain/go/** (what a build depends on)
#   DBOP_TOOLCHAIN_HOME $DBOP_CACHE/toolchain/<key>
#   DBOP_TOOLCHAIN_BIN  $DBOP_TOOLCHAIN_HOME/bin
#   DBOP_CLUSTER_DIR    $DBOP_CACHE/cluster          (state of cluster.sh)
#   DBOP_KUBECONFIG     $DBOP_CLUSTER_DIR/kubeconfig (admin kubeconfig of the local cluster)
# every KEY=value of versions.env as a shell variable, need() (installs a missing command), and for the scripts
# that build images with buildah: dbop_buildah (buildah on the project's storage) and dbop_hash_files.

DBOP_TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DBOP_CACHE="${DBOP_CACHE:-$HOME/.cache/dbop}"

# shellcheck disable=SC1091
. "$DBOP_TOOLCHAIN_DIR/versions.env"

dbop_toolchain_key() {
    (
        cd "$DBOP_TOOLCHAIN_DIR" &&
            find versions.env go -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
    )
}

DBOP_TOOLCHAIN_KEY="$(dbop_toolchain_key)"
DBOP_TOOLCHAIN_HOME="$DBOP_CACHE/toolchain/$DBOP_TOOLCHAIN_KEY"
DBOP_TOOLCHAIN_BIN="$DBOP_TOOLCHAIN_HOME/bin"
DBOP_CLUSTER_DIR="${DBOP_CLUSTER_DIR:-$DBOP_CACHE/cluster}"
DBOP_KUBECONFIG="$DBOP_CLUSTER_DIR/kubeconfig"

# Every binary build.sh puts in the bin dir (the build is complete when all exist).
DBOP_TOOLCHAIN_TOOLS=(
    pulumi
    pulumi-language-python
    pulumi-language-python-exec
    pulumi-resource-pulumi-python
    pulumi-resource-kubernetes
    etcd
    kube-apiserver
    kube-controller-manager
    kube-scheduler
    kubectl
    kwok
    kubelet
    kube-proxy
    coredns
    kube-router
)

# need CMD [DEBIAN-PACKAGE]: make sure CMD exists (installs the package with apt-get as root); the sourcing
# script defines log and die.
need() {
    command -v "$1" >/dev/null && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${2:-$1} (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${2:-$1}"; } >&2 ||
            die "could not install ${2:-$1}"
    else
        die "$1 not found: install the ${2:-$1} package"
    fi
}

# buildah on the project's own storage in the cache (no daemon; operator-image.sh and seaweedfs-image.sh).
dbop_buildah() {
    buildah --root "$DBOP_CACHE/buildah/storage" --runroot "/run/dbop-buildah" --storage-driver overlay "$@"
}

# dbop_hash_files < NUL-separated paths: a short hash of those files' contents (a cache key).
dbop_hash_files() { LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16; }
