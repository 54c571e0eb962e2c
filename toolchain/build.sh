#!/usr/bin/env bash
# Build the Go toolchain (Pulumi CLI + Python language host, pulumi-kubernetes provider,
# etcd, kube-apiserver/-controller-manager/-scheduler, kubectl, kwok, and for the real node
# kubelet, kube-proxy, CoreDNS and kube-router's network-policy controller) from the Go module
# proxy, with the versions pinned in toolchain/versions.env, into
#   ${DBOP_CACHE:-$HOME/.cache/dbop}/toolchain/<key>/bin
# where <key> hashes versions.env + toolchain/go/**. Idempotent: when everything is
# there it returns at once. Go module/build caches live in $DBOP_CACHE/go, never in the repo.
#
# Usage: toolchain/build.sh                  build what is missing (or nothing)
#        toolchain/build.sh --print-bin-dir  print the bin dir and exit (no build)
#        toolchain/build.sh --check          exit 0 if the toolchain is complete, else 1
#        toolchain/build.sh --update-mods    regenerate toolchain/go/*/go.mod+go.sum from
#                                            versions.env (after a version bump), then build
# Env:   DBOP_CACHE (cache root), DBOP_BUILD_LANES (parallel build lanes, default 2).
set -euo pipefail

# shellcheck source=toolchain/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TC="$DBOP_TOOLCHAIN_DIR"
BIN="$DBOP_TOOLCHAIN_BIN"
HOME_DIR="$DBOP_TOOLCHAIN_HOME"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { printf '[toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

is_complete() {
    [[ -f "$HOME_DIR/.complete" ]] || return 1
    local t
    for t in "${DBOP_TOOLCHAIN_TOOLS[@]}"; do [[ -x "$BIN/$t" ]] || return 1; done
}

UPDATE_MODS=0
case "${1:-}" in
    --print-bin-dir) echo "$BIN"; exit 0 ;;
    --check) is_complete; exit $? ;;
    --update-mods) UPDATE_MODS=1 ;;
    "") ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
esac

if [[ $UPDATE_MODS == 0 ]] && is_complete; then
    log "up to date: $BIN"
    exit 0
fi

# ---------------------------------------------------------------------------- Go setup
command -v go >/dev/null || die "go not found on PATH (Go >= 1.26 needed)"
GO_MINOR="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
[[ "$GO_MINOR" =~ ^[0-9]+$ && "$GO_MINOR" -ge 26 ]] || die "Go >= 1.26 needed, have $(go env GOVERSION)"

export GOPATH="$DBOP_CACHE/go"
export GOMODCACHE="$DBOP_CACHE/go/mod"
export GOCACHE="$DBOP_CACHE/go/build"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -mod=readonly"
export CGO_ENABLED=0
# Module proxy only (the checksum database is reached through the proxy as well).
export GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export GOSUMDB="${GOSUMDB:-sum.golang.org}"
# The checksum database reachable here lacks records of some github.com/pulumi modules
# (e.g. the provider's pseudo-version, pkg/v3@v3.215.0): those are checked against the
# committed toolchain/go/*/go.sum only. (A build with complete go.sum files never asks it.)
export GONOSUMDB="github.com/pulumi${GONOSUMDB:+,$GONOSUMDB}"
unset GOBIN GOWORK
export GOWORK=off

mkdir -p "$DBOP_CACHE/toolchain" "$GOMODCACHE" "$GOCACHE"
exec 9>"$DBOP_CACHE/toolchain/.build.lock"
if ! flock -n 9; then
    log "another build.sh is running; waiting for it"
    flock 9
fi
if [[ $UPDATE_MODS == 0 ]] && is_complete; then log "up to date: $BIN"; exit 0; fi

K8S_MINOR="$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
K8S_STAGING_VERSION="v0.${K8S_MINOR}.$(echo "$KUBERNETES_VERSION" | cut -d. -f3)"

# -------------------------------------------------------------- wrapper module generation
# Each tool is built from a small wrapper module under toolchain/go/<name> that requires the
# upstream module and re-states its replace directives (upstream `go install mod@v` refuses
# modules with replace directives). Local-path replaces of sibling modules become replaces
# by the published module at the pinned version.

# upstream_replaces MODULE@VERSION MAPPER: print replace directives of the upstream go.mod;
# MAPPER MODPATH prints the version to use for a local-path replace (or nothing to drop it).
upstream_replaces() {
    local modfile
    modfile="$(cd "$DBOP_CACHE/toolchain" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
    [[ -f "$modfile" ]] || die "cannot download go.mod of $1"
    awk '
        /^replace[ \t]*\(/ { inblock = 1; next }
        inblock && /^\)/   { inblock = 0; next }
        inblock            { print; next }
        /^replace[ \t]/    { sub(/^replace[ \t]+/, ""); print }
    ' "$modfile" | sed 's|//.*$||' | { grep '=>' || true; } | while read -r line; do
        local lhs rhs mod target ver
        lhs="${line%%=>*}"; rhs="${line#*=>}"
        lhs="$(echo $lhs)"; rhs="$(echo $rhs)"
        mod="${lhs%% *}"; target="${rhs%% *}"
        if [[ "$target" == .* || "$target" == /* ]]; then
            ver="$("$2" "$mod" "$target")"
            if [[ -n "$ver" ]]; then echo "$lhs => $mod $ver"; fi
        else
            echo "$lhs => $rhs"
        fi
    done
}

write_mod() { # DIR MODULE-NAME; body on stdin
    local dir="$TC/go/$1"
    mkdir -p "$dir"
    { echo "// Code generated by toolchain/build.sh --update-mods from toolchain/versions.env. DO NOT EDIT."
      echo
      echo "module dbop.invalid/toolchain/$1"
      echo
      echo "go 1.26.0"
      echo
      cat
    } >"$dir/go.mod"
    rm -f "$dir/go.sum"
    (cd "$dir" && go mod tidy) || die "go mod tidy failed in toolchain/go/$1"
    log "regenerated toolchain/go/$1/go.mod"
}

map_pulumi() { [[ "$1" == github.com/pulumi/pulumi/* ]] && echo "v$PULUMI_VERSION"; true; }
map_none() { true; }
map_k8s() { [[ "$2" == ./staging/* ]] && echo "$K8S_STAGING_VERSION"; true; }
map_etcd() { [[ "$1" == go.etcd.io/etcd/* && "$2" != *FORBIDDEN* ]] && echo "v$ETCD_VERSION"; true; }
map_pk8s() { [[ "$1" == github.com/pulumi/pulumi-kubernetes/sdk/v4 ]] && echo "v$PULUMI_KUBERNETES_VERSION"; true; }

update_mods() {
    {
        echo "tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
        echo
        echo "require ("
        echo "	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION"
        echo "	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION"
        echo ")"
        echo
        upstream_replaces "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" map_pulumi | sed 's/^/replace /'
    } | write_mod pulumi
    {
        echo "tool github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"
        echo
        echo "require github.com/pulumi/pulumi/sdk/v3 v$PULUMI_LANGHOST_SDK_VERSION"
        echo
        upstream_replaces "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_LANGHOST_SDK_VERSION" map_none | sed 's/^/replace /'
    } | write_mod langhost
    {
        echo "require github.com/pulumi/pulumi-kubernetes/provider/v4 $PULUMI_KUBERNETES_PROVIDER_MODULE"
        echo
        upstream_replaces "github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_PROVIDER_MODULE" map_pk8s | sed 's/^/replace /'
    } | write_mod provider
    {
        echo "tool go.etcd.io/etcd/server/v3"
        echo
        echo "require go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
        echo
        upstream_replaces "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" map_etcd | sed 's/^/replace /'
    } | write_mod etcd
    {
        for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
            echo "tool k8s.io/kubernetes/cmd/$c"
        done
        echo
        echo "require k8s.io/kubernetes v$KUBERNETES_VERSION"
        echo
        echo "godebug default=go1.26"
        echo
        upstream_replaces "k8s.io/kubernetes@v$KUBERNETES_VERSION" map_k8s | sed 's/^/replace /'
    } | write_mod kubernetes
    {
        echo "require github.com/coredns/coredns v$COREDNS_VERSION"
        echo
        upstream_replaces "github.com/coredns/coredns@v$COREDNS_VERSION" map_none | sed 's/^/replace /'
    } | write_mod coredns
    {
        echo "tool sigs.k8s.io/kwok/cmd/kwok"
        echo
        echo "require sigs.k8s.io/kwok v$KWOK_VERSION"
        echo
        upstream_replaces "sigs.k8s.io/kwok@v$KWOK_VERSION" map_none | sed 's/^/replace /'
    } | write_mod kwok
    {
        echo "require github.com/cloudnativelabs/kube-router/v2 v$KUBE_ROUTER_VERSION"
        echo
        upstream_replaces "github.com/cloudnativelabs/kube-router/v2@v$KUBE_ROUTER_VERSION" map_none | sed 's/^/replace /'
    } | write_mod kube-router
}

check_mods() {
    local bad=0
    chk() { grep -qF "$2" "$TC/go/$1/go.mod" 2>/dev/null || { log "toolchain/go/$1/go.mod lacks '$2'"; bad=1; }; }
    chk pulumi "github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION"
    chk langhost "github.com/pulumi/pulumi/sdk/v3 v$PULUMI_LANGHOST_SDK_VERSION"
    chk provider "github.com/pulumi/pulumi-kubernetes/provider/v4 $PULUMI_KUBERNETES_PROVIDER_MODULE"
    chk provider "github.com/pulumi/pulumi-kubernetes/sdk/v4 v$PULUMI_KUBERNETES_VERSION"
    chk etcd "go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
    chk kubernetes "k8s.io/kubernetes v$KUBERNETES_VERSION"
    chk kubernetes "k8s.io/api => k8s.io/api $K8S_STAGING_VERSION"
    chk kwok "sigs.k8s.io/kwok v$KWOK_VERSION"
    chk coredns "github.com/coredns/coredns v$COREDNS_VERSION"
    chk kube-router "github.com/cloudnativelabs/kube-router/v2 v$KUBE_ROUTER_VERSION"
    [[ $bad == 0 ]] || die "wrapper go.mod files do not match versions.env: run toolchain/build.sh --update-mods"
}

if [[ $UPDATE_MODS == 1 ]]; then
    update_mods
    # go.mod/go.sum changed, so the key (and bin dir) may have changed.
    # shellcheck source=toolchain/common.sh
    . "$TC/common.sh"
    BIN="$DBOP_TOOLCHAIN_BIN"; HOME_DIR="$DBOP_TOOLCHAIN_HOME"
    if is_complete; then log "up to date: $BIN"; exit 0; fi
fi
check_mods

# --------------------------------------------------------------------------- building
mkdir -p "$BIN" "$HOME_DIR/logs" "$HOME_DIR/src"
LOGS="$HOME_DIR/logs"

modinfo() { # WRAPPER MODULE FIELD -> prints e.g. the module's Dir (downloads it)
    (cd "$TC/go/$1" && go mod download "$2" && go list -m -f "{{.$3}}" "$2")
}

gobuild() { # WRAPPER OUT PKG [extra go build args...]
    local wrapper="$1" out="$2" pkg="$3"; shift 3
    (cd "$TC/go/$wrapper" && go build -trimpath -o "$BIN/.$out.tmp" "$@" "$pkg") &&
        mv -f "$BIN/.$out.tmp" "$BIN/$out"
}

build_pulumi() {
    gobuild pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
}

build_pulumi-language-python() {
    # The language host (Go) ...
    gobuild langhost pulumi-language-python github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_LANGHOST_SDK_VERSION"
    # ... and the Python scripts it runs, from the SDK of the CLI's version.
    local sdk
    sdk="$(modinfo pulumi github.com/pulumi/pulumi/sdk/v3 Dir)"
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
    install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$BIN/pulumi-resource-pulumi-python"
}

build_pulumi-resource-kubernetes() {
    # Upstream's main embeds schema-embed.json, generated at release time from schema.json
    # (with the version filled in). Do the same in a scratch copy of our wrapper.
    local src="$HOME_DIR/src/provider" mod
    mod="$(modinfo provider github.com/pulumi/pulumi-kubernetes/provider/v4 Dir)"
    rm -rf "$src"; mkdir -p "$src"
    cp "$TC/go/provider/"* "$src/"
    cat >"$src/embed.go" <<'EOF'
//go:build dbop_embed

package main

import _ "embed"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte
EOF
    python3 - "$mod/cmd/pulumi-resource-kubernetes" "$src" "$PULUMI_KUBERNETES_VERSION" <<'EOF'
import json, sys
mod, out, version = sys.argv[1:]
schema = json.load(open(f"{mod}/schema.json"))
schema["version"] = version
json.dump(schema, open(f"{out}/schema-embed.json", "w"), separators=(",", ":"))
mapping = json.load(open(f"{mod}/terraform-mapping.json"))
json.dump(mapping, open(f"{out}/terraform-mapping-embed.json", "w"), separators=(",", ":"))
EOF
    (cd "$src" && go build -trimpath -tags dbop_embed -o "$BIN/.pulumi-resource-kubernetes.tmp" \
        -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" .) &&
        mv -f "$BIN/.pulumi-resource-kubernetes.tmp" "$BIN/pulumi-resource-kubernetes"
}

build_etcd() {
    gobuild etcd etcd go.etcd.io/etcd/server/v3 -ldflags "-s -w"
}

k8s_ldflags() {
    local date pkg flags="-s -w"
    date="$(cd "$TC/go/kubernetes" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
    done
    echo "$flags"
}
build_k8s() { gobuild kubernetes "$1" "k8s.io/kubernetes/cmd/$1" -ldflags "$(k8s_ldflags)"; }
build_kube-apiserver() { build_k8s kube-apiserver; }
build_kube-controller-manager() { build_k8s kube-controller-manager; }
build_kube-scheduler() { build_k8s kube-scheduler; }
build_kubectl() { build_k8s kubectl; }
build_kubelet() { build_k8s kubelet; }
build_kube-proxy() { build_k8s kube-proxy; }

build_coredns() {
    # our main.go (go/coredns) links only the plugins the node's Corefile uses
    gobuild coredns coredns . -ldflags "-s -w"
}

build_kube-router() {
    # our main.go (go/kube-router) links only the network-policy controller
    gobuild kube-router kube-router . \
        -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER_VERSION"
}

build_kwok() {
    gobuild kwok kwok sigs.k8s.io/kwok/cmd/kwok -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}

# build_one TOOL: builds unless already there; prints a timing line; output in logs/TOOL.log
build_one() {
    local t="$1" start rc
    local first="$t"
    [[ "$t" == pulumi-language-python ]] && first=pulumi-language-python-exec
    if [[ -x "$BIN/$t" && -x "$BIN/$first" ]]; then
        log "$(printf '%-27s already built' "$t")"
        return 0
    fi
    start=$SECONDS
    if "build_$t" >"$LOGS/$t.log" 2>&1; then
        log "$(printf '%-27s built in %4ds' "$t" $((SECONDS - start)))"
    else
        rc=$?
        log "$(printf '%-27s FAILED after %ds (rc=%d); last lines of %s:' "$t" $((SECONDS - start)) "$rc" "$LOGS/$t.log")"
        tail -n 30 "$LOGS/$t.log" | sed 's/^/    /' >&2
        return 1
    fi
}

lane() { local t; for t in "$@"; do build_one "$t" || return 1; done; }

# Two lanes on 2 cores: each `go build` is itself parallel, but the lanes overlap
# downloads, link steps and the single-threaded parts. The Kubernetes binaries share
# most packages, so they build one after another in the same lane.
LANE_A=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy etcd kwok coredns kube-router pulumi-language-python)
LANE_B=(pulumi-resource-kubernetes pulumi)
log "building into $BIN (key $DBOP_TOOLCHAIN_KEY; logs in $LOGS)"
T0=$SECONDS
if [[ "${DBOP_BUILD_LANES:-2}" -le 1 ]]; then
    lane "${LANE_A[@]}" "${LANE_B[@]}" || die "build failed"
else
    lane "${LANE_A[@]}" & pid_a=$!
    lane "${LANE_B[@]}" & pid_b=$!
    rc=0
    wait $pid_a || rc=1
    wait $pid_b || rc=1
    [[ $rc == 0 ]] || die "build failed (see above)"
fi

for t in "${DBOP_TOOLCHAIN_TOOLS[@]}"; do [[ -x "$BIN/$t" ]] || die "missing after build: $BIN/$t"; done
"$BIN/pulumi" version >/dev/null || die "built pulumi does not run"
rm -rf "$HOME_DIR/src"
cp "$TC/versions.env" "$HOME_DIR/versions.env"
date -u +%Y-%m-%dT%H:%M:%SZ >"$HOME_DIR/.complete"
ln -sfn "$DBOP_TOOLCHAIN_KEY" "$DBOP_CACHE/toolchain/current"
log "done in $((SECONDS - T0))s: $BIN"
