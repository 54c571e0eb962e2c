#!/usr/bin/env bash
# A local Kubernetes cluster for tests and the demo: a control plane on 127.0.0.1 (etcd, kube-apiserver with
# TLS and RBAC, kube-controller-manager, kube-scheduler), kwok faking nodes `kwok-node-*` and their pods'
# lifecycle (pods there become Running+Ready as soon as they are scheduled, nothing runs), and by default
# one real node (toolchain/node/node.sh: containerd + runc, kubelet, kube-proxy, CoreDNS and a volume
# provisioner in a network namespace of its own) where pods really run.
# Pods land on the real node unless their namespace is annotated
# scheduler.alpha.kubernetes.io/node-selector: type=kwok (PodNodeSelector admission).
#
# Usage: toolchain/cluster.sh start       start (no-op if already running); waits until ready
#        toolchain/cluster.sh stop        stop every component, verify none is left
#        toolchain/cluster.sh status      print component status; exit 0 iff all running
#        toolchain/cluster.sh kubeconfig  print the admin kubeconfig path
#        toolchain/cluster.sh host-cidr   print the host's address toward the real node's pods, as a /32
#        toolchain/cluster.sh reset       stop and delete all cluster state (etcd data, certs) but the real node's
#                                         imported images (node/containerd: 2.2 GB, ~1 min to import again)
#        toolchain/cluster.sh logs [C]    list log files / print the log of component C
#        toolchain/cluster.sh import-images DIR   import DIR/images.txt's images into the real node (running)
#
# State, logs and pid files live in ${DBOP_CLUSTER_DIR:-${DBOP_CACHE:-~/.cache/dbop}/cluster}.
# The binaries come from the toolchain bin dir (run toolchain/build.sh first).
# Ports (all on 127.0.0.1), overridable by env:
#   DBOP_ETCD_PORT=23790 DBOP_ETCD_PEER_PORT=23800 DBOP_APISERVER_PORT=26443
#   DBOP_CONTROLLER_MANAGER_PORT=20257 DBOP_SCHEDULER_PORT=20259 DBOP_KWOK_NODE_PORT=10250
# Other knobs: DBOP_KWOK_NODES=3 (number of fake nodes), DBOP_CLUSTER_TIMEOUT=120 (seconds),
#   DBOP_NODE=real|kwok (kwok: no real node, e.g. for the benchmark); the real node's own settings
#   (DBOP_NODE_*, DBOP_CGROUP_ROOT, DBOP_CONTAINERD_*, DBOP_KUBELET_*) are described in toolchain/node/node.sh.
set -euo pipefail

# shellcheck source=toolchain/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIN="$DBOP_TOOLCHAIN_BIN"
STATE="$DBOP_CLUSTER_DIR"
PKI="$STATE/pki"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
KUBECONFIG_ADMIN="$DBOP_KUBECONFIG"

ETCD_PORT="${DBOP_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${DBOP_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${DBOP_APISERVER_PORT:-26443}"
KCM_PORT="${DBOP_CONTROLLER_MANAGER_PORT:-20257}"
SCHEDULER_PORT="${DBOP_SCHEDULER_PORT:-20259}"
KWOK_NODE_PORT="${DBOP_KWOK_NODE_PORT:-10250}"   # kwok's fake kubelet API
NODES="${DBOP_KWOK_NODES:-3}"
TIMEOUT="${DBOP_CLUSTER_TIMEOUT:-120}"
SERVICE_CIDR="10.96.0.0/16"   # routed only inside the real node (kube-proxy); unreachable on the host
POD_CIDR="10.244.0.0/16"      # fake pod IPs handed out by kwok: unreachable on the host
NODE_MODE="${DBOP_NODE:-real}"
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=toolchain/node/node.sh
. "$DBOP_TOOLCHAIN_DIR/node/node.sh"
case "$NODE_MODE" in
    real) COMPONENTS=("${CONTROL_PLANE[@]}" "${NODE_COMPONENTS[@]}"); DEFAULT_NODE_SELECTOR="type=real" ;;
    kwok) COMPONENTS=("${CONTROL_PLANE[@]}"); DEFAULT_NODE_SELECTOR="" ;;
    *) die "DBOP_NODE must be 'real' or 'kwok', not '$NODE_MODE'" ;;
esac


# ----------------------------------------------------------------------------- processes
# pid_of C: prints the pid of component C if it is running (and really is ours).
pid_of() {
    local f="$PIDS/$1.pid" pid
    [[ -f "$f" ]] || return 1
    pid="$(cat "$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # guard against pid reuse: the command line must mention our state dir
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE/" || return 1
    echo "$pid"
}
running() { pid_of "$1" >/dev/null; }

# launch C CMD...: starts a detached component, logs to $LOGS/C.log, pid to $PIDS/C.pid
launch() {
    local c="$1"; shift
    [[ -x "$1" ]] || die "$1 not found: run toolchain/build.sh"
    if running "$c"; then return 0; fi
    : >"$LOGS/$c.log"
    # setsid: own session, so the component outlives the calling shell/CI step.
    # 8>&-: do not hand the lock of this script down to the long-running component.
    setsid "$@" >>"$LOGS/$c.log" 2>&1 </dev/null 8>&- &
    local pid=$! own i
    own="$(tr '\0' ' ' </proc/$$/cmdline)"
    # Until the forked shell has exec'd the command, its command line is this script's, which lacks our state dir,
    # and pid_of would call the component dead: wait (briefly) for the exec before anyone checks it. (Not for the
    # binary: the real node's components start through toolchain/node/enter.sh, a script.)
    for ((i = 0; i < 50; i++)); do
        [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" != "$own" ]] && break
        [[ -d "/proc/$pid" ]] || break
        sleep 0.1
    done
    echo "$pid" >"$PIDS/$c.pid"
}

stop_component() {
    local c="$1" pid i
    pid="$(pid_of "$c")" || { rm -f "$PIDS/$c.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        [[ -d "/proc/$pid" ]] || break
        sleep 0.1
    done
    if [[ -d "/proc/$pid" ]]; then
        log "$c (pid $pid) did not stop on SIGTERM, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
    fi
    rm -f "$PIDS/$c.pid"
}

# stop_components C...: stop_component for each, SIGTERM sent to all of them at once (for components that need
# not outlive one another): one wait, not one per component
stop_components() {
    local c pid
    for c in "$@"; do
        if pid="$(pid_of "$c")"; then
            log "stopping $c"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for c in "$@"; do stop_component "$c"; done
}

# leftovers: pids of processes started from our bin dir with our state dir in their command line
leftovers() {
    local p exe
    for p in /proc/[0-9]*; do
        exe="$(readlink "$p/exe" 2>/dev/null)" || continue
        [[ "$exe" == "$BIN/"* ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$STATE/" || continue
        echo "${p#/proc/}"
    done
}

# ------------------------------------------------------------------------------ PKI etc.
# issue_cert NAME SUBJECT [SAN]: key + certificate signed by our CA in $PKI, unless they exist
# (a server certificate if SAN is given, else a client certificate); CA=front-proxy-ca picks the other CA
issue_cert() {
    local name="$1" subj="$2" san="${3:-}" ca="${CA:-ca}"
    [[ -f "$PKI/$name.crt" ]] && return 0
    (
        cd "$PKI"
        umask 077
        openssl genrsa -out "$name.key" 2048 2>/dev/null
        openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
        {
            echo "basicConstraints=critical,CA:FALSE"
            echo "keyUsage=critical,digitalSignature,keyEncipherment"
            if [[ -n "$san" ]]; then
                echo "extendedKeyUsage=serverAuth"
                echo "subjectAltName=$san"
            else
                echo "extendedKeyUsage=clientAuth"
            fi
        } >"$name.ext"
        openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
            -sha256 -days 3650 -extfile "$name.ext" -out "$name.crt.tmp" 2>/dev/null
        mv -f "$name.crt.tmp" "$name.crt"
        rm -f "$name.csr" "$name.ext"
    ) || die "could not issue the certificate $PKI/$name.crt"
}

gen_pki() {
    mkdir -p "$PKI"
    if [[ ! -f "$PKI/.done" ]]; then
        log "generating certificates in $PKI"
        local o=(-sha256 -days 3650)
        (
            cd "$PKI"
            umask 077
            openssl genrsa -out ca.key 2048 2>/dev/null
            openssl req -x509 -new -key ca.key -subj "/CN=dbop-local-ca" "${o[@]}" -out ca.crt
            # request-header (front proxy) CA, for the extension-apiserver-authentication ConfigMap the
            # controller-manager and scheduler read (no aggregated API servers run).
            openssl genrsa -out front-proxy-ca.key 2048 2>/dev/null
            openssl req -x509 -new -key front-proxy-ca.key -subj "/CN=dbop-front-proxy-ca" "${o[@]}" -out front-proxy-ca.crt
            # service-account token signing key pair
            openssl genrsa -out sa.key 2048 2>/dev/null
            openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
            touch .done
        )
    fi
    issue_cert apiserver "/CN=kube-apiserver" \
        "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    issue_cert admin "/O=system:masters/CN=kubernetes-admin"
    issue_cert controller-manager "/CN=system:kube-controller-manager"
    issue_cert scheduler "/CN=system:kube-scheduler"
    issue_cert kwok "/O=system:masters/CN=kwok-controller"
    # the API server's identity towards kubelets (logs, exec, port-forward)
    issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    CA=front-proxy-ca issue_cert front-proxy-client "/CN=front-proxy-client"
}

# write_kubeconfig FILE CERT-NAME [SERVER]: SERVER (default https://127.0.0.1:APISERVER_PORT) is checked
# against the API server's certificate as "kubernetes", so the real node may reach it at another address.
write_kubeconfig() {
    local file="$1" name="$2" server="${3:-https://127.0.0.1:$APISERVER_PORT}"
    cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dbop-local
  cluster:
    server: $server
    tls-server-name: kubernetes
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$name.crt")
    client-key-data: $(base64 -w0 <"$PKI/$name.key")
contexts:
- name: dbop-local
  context:
    cluster: dbop-local
    user: $name
current-context: dbop-local
EOF
    chmod 600 "$file.tmp"
    mv -f "$file.tmp" "$file"
}

write_configs() {
    write_kubeconfig "$KUBECONFIG_ADMIN" admin
    write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
    write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler
    write_kubeconfig "$STATE/kwok.kubeconfig" kwok
    # Pods go to the real node unless their namespace asks for kwok's (the e2e tests' namespaces do).
    cat >"$STATE/admission.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodNodeSelector
  configuration:
    podNodeSelectorPluginConfig:
      clusterDefaultNodeSelector: "$DEFAULT_NODE_SELECTOR"
EOF
    # No storage provisioner exists: PVCs of StatefulSets stay Pending. Disable the volume
    # plugins of the scheduler so that pods using such PVCs still get scheduled.
    cat >"$STATE/scheduler-config.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $STATE/scheduler.kubeconfig
leaderElection:
  leaderElect: false
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      disabled:
      - name: VolumeBinding
      - name: VolumeRestrictions
      - name: VolumeZone
      - name: NodeVolumeLimits
EOF
}

# ---------------------------------------------------------------------------------- waits
curl_api() { # PATH
    curl -sS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
        "https://127.0.0.1:$APISERVER_PORT$1"
}
kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout=10s "$@"; }

# wait_for WHAT CMD...: retries CMD until it succeeds or the deadline passes
wait_for() {
    local what="$1"; shift
    while ! "$@" >/dev/null 2>&1; do
        if ((SECONDS >= DEADLINE)); then
            log "timed out waiting for $what"
            return 1
        fi
        for c in "${COMPONENTS[@]}"; do
            if [[ -f "$PIDS/$c.pid" ]] && ! running "$c"; then
                log "$c exited; last lines of $LOGS/$c.log:"
                tail -n 20 "$LOGS/$c.log" | sed 's/^/    /' >&2
                return 1
            fi
        done
        sleep 0.5
    done
}

etcd_healthy() { curl -sS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
apiserver_ready() { [[ "$(curl_api /readyz)" == ok ]]; }
default_sa_exists() { kubectl_ -n default get serviceaccount default; }
nodes_ready() {
    local n
    n="$(kubectl_ get nodes -l type=kwok \
        -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
    [[ "$n" -ge "$NODES" ]]
}

create_nodes() {
    local i
    for ((i = 0; i < NODES; i++)); do
        cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    node-role.kubernetes.io/agent: ""
    topology.kubernetes.io/zone: zone-$((i % 3))
status:
  allocatable:
    cpu: "32"
    memory: 128Gi
    pods: "250"
  capacity:
    cpu: "32"
    memory: 128Gi
    pods: "250"
EOF
    done | kubectl_ apply -f - >/dev/null
}

# Default StorageClass with WaitForFirstConsumer binding, served by the real node's provisioner
# (toolchain/node/provisioner.py) once a pod using the PVC is on that node. PVCs of pods on kwok nodes
# (or with DBOP_NODE=kwok) stay Pending, which is what a PVC waiting for its first consumer looks
# like, so pulumi-kubernetes' PVC await accepts it as ready.
create_storageclass() {
    local provisioner
    # a StorageClass's provisioner cannot change: replace one made by an older cluster.sh
    provisioner="$(kubectl_ get storageclass standard -o jsonpath='{.provisioner}' 2>/dev/null || true)"
    if [[ -n "$provisioner" && "$provisioner" != "$PROVISIONER_NAME" ]]; then
        kubectl_ delete storageclass standard >/dev/null
    fi
    kubectl_ apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: $PROVISIONER_NAME
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
allowVolumeExpansion: true
EOF
}

# --------------------------------------------------------------------------------- commands
all_running() {
    local c
    for c in "${COMPONENTS[@]}"; do running "$c" || return 1; done
    apiserver_ready
}

cmd_start() {
    local c t0=$SECONDS
    for c in "${CONTROL_PLANE[@]}"; do [[ -x "$BIN/$c" ]] || die "$BIN/$c missing: run toolchain/build.sh"; done
    need openssl; need curl; need flock util-linux; need setsid util-linux
    mkdir -p "$STATE" "$PIDS" "$LOGS"
    exec 8>"$STATE/.lock"
    flock 8
    if all_running; then
        log "already running (kubeconfig: $KUBECONFIG_ADMIN)"
        return 0
    fi
    # half-up from an earlier run (crash, kill): restart everything cleanly
    node_stop
    for c in "${CONTROL_PLANE[@]}"; do
        if running "$c"; then log "restarting: stopping $c"; fi
        stop_component "$c" # also drops stale pid files
    done
    need ip iproute2
    network_guards_up
    gen_pki
    write_configs
    DEADLINE=$((SECONDS + TIMEOUT))

    launch etcd "$BIN/etcd" \
        --name dbop --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "dbop=http://127.0.0.1:$ETCD_PEER_PORT" \
        --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
    wait_for etcd etcd_healthy || die "etcd did not become healthy"

    # --enable-aggregator-routing: webhooks and aggregated APIs behind a Service are called at its endpoints (pod IPs,
    # which the host routes to the real node), not at its ClusterIP (which only the node's kube-proxy routes).
    launch kube-apiserver "$BIN/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" \
        --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
        --requestheader-allowed-names=front-proxy-client \
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
        --requestheader-extra-headers-prefix=X-Remote-Extra- \
        --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
        --authorization-mode=Node,RBAC \
        --enable-admission-plugins=PodNodeSelector --admission-control-config-file="$STATE/admission.yaml" \
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority="$PKI/ca.crt" \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --endpoint-reconciler-type=none \
        --enable-aggregator-routing=true \
        --allow-privileged=true \
        --profiling=false \
        --cert-dir="$STATE/apiserver-certs"
    wait_for kube-apiserver apiserver_ready || die "kube-apiserver did not become ready"

    launch kube-controller-manager "$BIN/kube-controller-manager" \
        --kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
        --cert-dir="$STATE/controller-manager-certs" \
        --leader-elect=false \
        --use-service-account-credentials=true \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --controllers='*' \
        --profiling=false

    launch kube-scheduler "$BIN/kube-scheduler" \
        --config="$STATE/scheduler-config.yaml" \
        --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
        --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
        --cert-dir="$STATE/scheduler-certs" \
        --profiling=false

    launch kwok "$BIN/kwok" \
        --kubeconfig="$STATE/kwok.kubeconfig" \
        --config="$DBOP_TOOLCHAIN_DIR/kwok/stages.yaml" \
        --manage-all-nodes=false \
        --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
        --node-ip=127.0.0.1 --node-port="$KWOK_NODE_PORT" \
        --cidr="$POD_CIDR" \
        --node-lease-duration-seconds=40

    wait_for "node creation" create_nodes || die "could not create the kwok nodes"
    wait_for "the default StorageClass" create_storageclass || die "could not create the StorageClass"
    wait_for "the default ServiceAccount" default_sa_exists || die "no default ServiceAccount (is kube-controller-manager running?)"
    wait_for "$NODES Ready nodes" nodes_ready || die "kwok nodes did not become Ready (is kwok running?)"
    if [[ "$NODE_MODE" == real ]]; then node_start; fi
    log "ready in $((SECONDS - t0))s: $("$BIN/kubectl" version --kubeconfig "$KUBECONFIG_ADMIN" -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) at https://127.0.0.1:$APISERVER_PORT (kubeconfig: $KUBECONFIG_ADMIN)"
}

cmd_stop() {
    local left
    mkdir -p "$STATE" "$PIDS"
    exec 8>"$STATE/.lock"
    flock 8
    node_stop
    # the reverse of their start: the API server and etcd last
    stop_components kwok kube-scheduler kube-controller-manager
    stop_components kube-apiserver
    stop_components etcd
    left="$(leftovers | tr '\n' ' ')"
    if [[ -n "$left" ]]; then
        log "stray cluster processes found, killing: $left"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        sleep 0.5
        left="$(leftovers | tr '\n' ' ')"
        [[ -z "$left" ]] || die "processes still running: $left"
    fi
    left="$(node_leftovers)"
    [[ -z "$left" ]] || die "the real node left behind: $left"
    log "stopped"
}

cmd_status() {
    local c ok=0
    for c in "${COMPONENTS[@]}"; do
        if running "$c"; then
            printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"
        else
            printf '%-24s stopped\n' "$c"; ok=1
        fi
    done
    if [[ -f "$PKI/ca.crt" ]] && apiserver_ready 2>/dev/null; then
        printf '%-24s ok (https://127.0.0.1:%s)\n' "/readyz" "$APISERVER_PORT"
    else
        printf '%-24s not ready\n' "/readyz"; ok=1
    fi
    if [[ "$NODE_MODE" == real ]]; then node_status; fi
    echo "kubeconfig: $KUBECONFIG_ADMIN"
    return $ok
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    kubeconfig) echo "$KUBECONFIG_ADMIN" ;;
    # The address the host reaches the real node's pods from (its end of the node's link), as a CIDR: what an
    # operator running on this host sets as DBOP_OPERATOR_CIDRS; nothing without a real node.
    host-cidr) if [[ "$NODE_MODE" == real ]]; then echo "$LINK_HOST_IP/32"; fi ;;
    reset)
        cmd_stop
        # Everything goes but containerd's root, which holds only images once stop has removed every container;
        # the next start imports only what it lacks (node_import_images).
        if [[ -d "$STATE" ]]; then find "$STATE" -mindepth 1 -maxdepth 1 ! -name node -exec rm -rf {} +; fi
        if [[ -d "$STATE/node" ]]; then find "$STATE/node" -mindepth 1 -maxdepth 1 ! -name containerd -exec rm -rf {} +; fi
        log "state removed: $STATE (the node's images kept)"
        ;;
    import-images)
        [[ -f "${2:-}/images.txt" ]] || die "usage: cluster.sh import-images DIR (a directory with images.txt)"
        [[ "$NODE_MODE" == real ]] && running containerd || die "the real node is not running: cluster.sh start"
        node_import_images "$2"
        ;;
    logs)
        if [[ -n "${2:-}" ]]; then cat "$LOGS/$2.log"; else ls -l "$LOGS"; fi
        ;;
    *) sed -n '2,26p' "$0"; exit 2 ;;
esac
