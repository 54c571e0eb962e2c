# The real node of the local cluster (sourced by toolchain/cluster.sh; uses its helpers and variables).
#
# One node, NODE_NAME, in a network namespace of its own, joined to the host by a veth pair on a /30 "link":
#   host side  LINK_HOST_IP on HOST_VETH          node side  NODE_IP on eth0 (the node's InternalIP)
# In the namespace run containerd (Debian's, with runc), the kubelet, kube-proxy (iptables mode: its chains stay in
# the namespace), CoreDNS and kube-router's network-policy controller (its iptables chains and ipsets stay there
# too); pods get addresses from NODE_POD_CIDR on the namespace's bridge (CNI bridge + host-local, ipMasq false,
# routes only to the pod network, the Service network and the link: no default route, so nothing leaves the
# machine). On the host: packets from the node to LINK_HOST_IP:APISERVER_PORT are DNATed to the API server on
# 127.0.0.1 (route_localnet on HOST_VETH), and a route sends NODE_POD_CIDR over the link, so the API server (pod
# and service proxy, webhooks: --enable-aggregator-routing) and the operator reach pods by their IPs. That is why
# every cluster's node has a pod CIDR of its own. The namespace masquerades what pods send over the link. Pod,
# Service and kwok addresses nobody routes are unreachable on the host (network_guards_up): a mistake fails at
# once instead of leaving the machine by its default route.
# All node processes (and so every container) live under the cgroup CGROUP_ROOT: `stop` kills what is left there.
# The provisioner (toolchain/node/provisioner.py) runs on the host side and talks to 127.0.0.1.
#
# Everything that could collide between two clusters on one machine is derived from a hash of DBOP_CLUSTER_DIR
# (NODE_ID) unless set: DBOP_NODE_NETNS, DBOP_NODE_VETH, DBOP_NODE_LINK_CIDR, DBOP_NODE_POD_CIDR, DBOP_CGROUP_ROOT,
# DBOP_CONTAINERD_STATE, DBOP_CONTAINERD_SOCKET; the rest lives under DBOP_CLUSTER_DIR or inside the namespace.

NODE_ID="$(printf '%s' "$STATE" | sha256sum | cut -c1-8)"
NODE_NAME="${DBOP_NODE_NAME:-real-node}"
NODE_NETNS="${DBOP_NODE_NETNS:-dbop-$NODE_ID}"
NETNS_PATH="/run/netns/$NODE_NETNS"
HOST_VETH="${DBOP_NODE_VETH:-dbop$NODE_ID}"
NODE_VETH_TMP="dbopn$NODE_ID"   # the node side's name until it is moved into the namespace (then eth0)
NODE_BRIDGE="${DBOP_NODE_BRIDGE:-cni0}"
NODE_DNS_IP="${DBOP_NODE_DNS_IP:-10.96.0.10}"   # ClusterIP of kube-system/kube-dns (in SERVICE_CIDR)
CGROUP_ROOT="${DBOP_CGROUP_ROOT:-/dbop-$NODE_ID}"
NODE_RUN="/run/dbop-$NODE_ID"
NODE_DIR="$STATE/node"
CONTAINERD_ROOT="${DBOP_CONTAINERD_ROOT:-$NODE_DIR/containerd}"
CONTAINERD_STATE="${DBOP_CONTAINERD_STATE:-$NODE_RUN/containerd}"
CONTAINERD_SOCKET="${DBOP_CONTAINERD_SOCKET:-$NODE_RUN/containerd.sock}"
KUBELET_ROOT="${DBOP_KUBELET_ROOT:-$NODE_DIR/kubelet}"
KUBELET_PORT="${DBOP_KUBELET_PORT:-10250}"   # inside the namespace, so it never collides with kwok's
NODE_VOLUMES="${DBOP_NODE_VOLUMES:-$NODE_DIR/volumes}"
PROVISIONER_NAME="dbop.local/hostpath"
CNI_BIN_DIR="/usr/lib/cni"
NODE_COMPONENTS=(containerd kubelet kube-proxy coredns kube-router provisioner)
KUBE_ROUTER_HEALTH_PORT=20244   # inside the namespace

# The link: a /30 out of 172.30.0.0/16 picked by NODE_ID, or DBOP_NODE_LINK_CIDR (a /30).
if [[ -n "${DBOP_NODE_LINK_CIDR:-}" ]]; then
    [[ "$DBOP_NODE_LINK_CIDR" =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.([0-9]+)/30$ ]] ||
        die "DBOP_NODE_LINK_CIDR must be an a.b.c.d/30 network, not '$DBOP_NODE_LINK_CIDR'"
    LINK_PREFIX="${BASH_REMATCH[1]}"; LINK_BASE="$(( BASH_REMATCH[2] & ~3 ))"
else
    _link=$(( 16#${NODE_ID:0:4} % 16384 ))
    LINK_PREFIX="172.30.$((_link / 64))"; LINK_BASE="$(( (_link % 64) * 4 ))"
fi
LINK_CIDR="$LINK_PREFIX.$LINK_BASE/30"
LINK_HOST_IP="$LINK_PREFIX.$((LINK_BASE + 1))"
NODE_IP="$LINK_PREFIX.$((LINK_BASE + 2))"
# The pods: a /20 out of NODE_POD_SUPERNET picked by NODE_ID, or DBOP_NODE_POD_CIDR (any a.b.c.d/n). The supernet is
# clear of the Service CIDR (10.96.0.0/16), kwok's fake pod IPs (10.244.0.0/16), the links (172.30.0.0/16) and,
# being private, of any network this machine may reach.
NODE_POD_SUPERNET="10.128.0.0/10"
if [[ -n "${DBOP_NODE_POD_CIDR:-}" ]]; then
    NODE_POD_CIDR="$DBOP_NODE_POD_CIDR"
else
    _pods=$(( 16#${NODE_ID:4:4} % 1024 ))   # 1024 /20s: 16 in each 10.X.0.0/16, X from 128 to 191
    NODE_POD_CIDR="10.$((128 + _pods / 16)).$(( (_pods % 16) * 16 )).0/20"
fi
[[ "$NODE_POD_CIDR" =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.([0-9]+)/([0-9]+)$ ]] ||
    die "DBOP_NODE_POD_CIDR must be an a.b.c.d/n network, not '$NODE_POD_CIDR'"
NODE_POD_GATEWAY="${BASH_REMATCH[1]}.$((BASH_REMATCH[2] + 1))"
IPTABLES_TAG="dbop-node-$NODE_ID"
GUARD_METRIC=4000000   # the guards lose to any route for the same addresses

in_node() { nsenter --net="$NETNS_PATH" -- "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCKET" -n k8s.io "$@"; }

# ------------------------------------------------------------------------------------ certificates
node_pki() {
    local san="IP:$NODE_IP,DNS:$NODE_NAME"
    # the serving certificate names the node's address: issue it again when the address changed
    if [[ -f "$PKI/kubelet-serving.crt" ]] && ! openssl x509 -in "$PKI/kubelet-serving.crt" -noout -checkip "$NODE_IP" | grep -q 'does match'; then
        rm -f "$PKI/kubelet-serving.crt"
    fi
    issue_cert kubelet-serving "/CN=$NODE_NAME" "$san"
    issue_cert "kubelet-$NODE_NAME" "/O=system:nodes/CN=system:node:$NODE_NAME"
    issue_cert kube-proxy "/CN=system:kube-proxy"
    issue_cert coredns "/CN=system:coredns"
    issue_cert kube-router "/CN=system:kube-router"
}

# ------------------------------------------------------------------------------------------ network
node_network_up() {
    if [[ ! -e "$NETNS_PATH" ]]; then
        ip netns add "$NODE_NETNS"
    fi
    local taken
    taken="$(routed_elsewhere "$LINK_CIDR")"
    [[ -z "$taken" ]] ||
        die "the node's link $LINK_CIDR is already routed on this machine (another cluster?): set DBOP_NODE_LINK_CIDR ($taken)"
    taken="$(routed_elsewhere "$NODE_POD_CIDR")"
    [[ -z "$taken" ]] ||
        die "the node's pod CIDR $NODE_POD_CIDR is already routed on this machine (another cluster?): set DBOP_NODE_POD_CIDR ($taken)"
    if ! ip link show "$HOST_VETH" >/dev/null 2>&1; then
        ip link add "$HOST_VETH" type veth peer name "$NODE_VETH_TMP"
        ip link set "$NODE_VETH_TMP" netns "$NODE_NETNS"
        in_node ip link set "$NODE_VETH_TMP" name eth0
        ip addr add "$LINK_HOST_IP/30" dev "$HOST_VETH"
        in_node ip addr add "$NODE_IP/30" dev eth0
        ip link set "$HOST_VETH" up
        in_node ip link set eth0 up
        in_node ip link set lo up
    fi
    # The host (API server, operator) reaches the pods through the node.
    ip route replace "$NODE_POD_CIDR" via "$NODE_IP" dev "$HOST_VETH"
    # The node reaches the API server (on the host's 127.0.0.1) at LINK_HOST_IP:APISERVER_PORT.
    sysctl -qw "net.ipv4.conf.$HOST_VETH.route_localnet=1"
    local dnat=(PREROUTING -i "$HOST_VETH" -d "$LINK_HOST_IP" -p tcp --dport "$APISERVER_PORT"
        -m comment --comment "$IPTABLES_TAG" -j DNAT --to-destination "127.0.0.1:$APISERVER_PORT")
    iptables -t nat -C "${dnat[@]}" 2>/dev/null || iptables -t nat -A "${dnat[@]}"
    in_node sysctl -qw net.ipv4.ip_forward=1
    # Services between pods on one bridge need bridged packets to pass iptables (br_netfilter)
    [[ -d /proc/sys/net/bridge ]] || modprobe br_netfilter 2>/dev/null || true
    in_node sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null ||
        log "warning: net.bridge.bridge-nf-call-iptables not settable in the node's namespace"
    local masq=(POSTROUTING -o eth0 ! -s "$NODE_IP" -j MASQUERADE)
    in_node iptables -t nat -C "${masq[@]}" 2>/dev/null || in_node iptables -t nat -A "${masq[@]}"
    # The bridge with the pods' gateway, made here so CoreDNS and kube-proxy find it before the first pod.
    if ! in_node ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
        in_node ip link add "$NODE_BRIDGE" type bridge
        in_node ip addr add "$NODE_POD_GATEWAY/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
        in_node ip link set "$NODE_BRIDGE" up
    fi
}

# routed_elsewhere CIDR: the host's routes, but the default, the guards and this node's own, that cover CIDR or lie
# inside it (one per line; none when CIDR is free for this node)
routed_elsewhere() {
    { ip -4 route show match "$1"; ip -4 route show root "$1"; } |
        { grep -v -e '^default ' -e '^unreachable ' -e "dev $HOST_VETH\( \|\$\)" || true; } | sort -u
}

# network_guards_up: pod, Service and kwok addresses no node routes are unreachable on the host, instead of going out
# its default route (traffic must stay on this machine). The most specific route wins, so every node's own pod route
# still does; the guards are the same for every cluster and stay after a stop (they never lose anything).
network_guards_up() {
    local cidr
    for cidr in "$NODE_POD_SUPERNET" "$SERVICE_CIDR" "$POD_CIDR"; do
        guarded "$cidr" || ip route add unreachable "$cidr" metric "$GUARD_METRIC" 2>/dev/null ||
            guarded "$cidr" || die "could not add the host route: unreachable $cidr"   # (or another cluster just did)
    done
}
guarded() { [[ -n "$(ip -4 route show exact "$1" type unreachable)" ]]; }

node_network_down() {
    local rule
    { iptables -t nat -S PREROUTING 2>/dev/null | grep -F -- "$IPTABLES_TAG" || true; } | while read -r rule; do
        # shellcheck disable=SC2086
        iptables -t nat ${rule/-A /-D } || true
    done
    # the veth pair first: deleting a namespace takes its devices with it, but only some time later
    if ip link show "$HOST_VETH" >/dev/null 2>&1; then ip link del "$HOST_VETH"; fi
    if [[ -e "$NETNS_PATH" ]]; then ip netns del "$NODE_NETNS"; fi   # and with it the bridge
    # `ip netns add` made /run/netns a mount point of its own: undo that when no namespace is left in it
    if mountpoint -q /run/netns && [[ -z "$(ls -A /run/netns)" ]]; then umount /run/netns 2>/dev/null || true; fi
}

# ------------------------------------------------------------------------------------------ cgroups
# cgroup_hierarchies: the mounted cgroup hierarchies (this kind of machine: v1 controllers + cgroup2 at unified;
# a pure cgroup v2 machine has one, /sys/fs/cgroup itself: that case is written but was never run)
cgroup_hierarchies() {
    local h
    if [[ -f /sys/fs/cgroup/cgroup.procs ]]; then echo /sys/fs/cgroup; return 0; fi
    for h in /sys/fs/cgroup/*/; do if [[ -f "${h}cgroup.procs" ]]; then echo "${h%/}"; fi; done
}

node_cgroups_up() {
    local h
    for h in $(cgroup_hierarchies); do
        mkdir -p "$h$CGROUP_ROOT/system"
        if [[ -f "$h/cgroup.subtree_control" && "$h" == /sys/fs/cgroup ]]; then
            # cgroup v2: hand the controllers the kubelet needs down to its root
            local c
            for c in cpuset cpu io memory pids; do
                echo "+$c" >"$h/cgroup.subtree_control" 2>/dev/null || true
                echo "+$c" >"$h$CGROUP_ROOT/cgroup.subtree_control" 2>/dev/null || true
            done
        fi
        if [[ -f "$h/cpuset.cpus" ]]; then
            # a new cpuset cgroup starts with no CPUs and no memory nodes: give it the parent's
            local d
            for d in "$h$CGROUP_ROOT" "$h$CGROUP_ROOT/system"; do
                [[ -n "$(cat "$d/cpuset.cpus")" ]] || cat "$h/cpuset.cpus" >"$d/cpuset.cpus"
                [[ -n "$(cat "$d/cpuset.mems")" ]] || cat "$h/cpuset.mems" >"$d/cpuset.mems"
            done
        fi
    done
}

# cgroup_pids: every process under CGROUP_ROOT
cgroup_pids() {
    local h
    h="$(cgroup_hierarchies | grep -m1 '/pids$' || cgroup_hierarchies | head -1)"
    [[ -d "$h$CGROUP_ROOT" ]] || return 0
    find "$h$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u
}

node_cgroups_down() {
    local i pids h
    for ((i = 0; i < 50; i++)); do
        pids="$(cgroup_pids | tr '\n' ' ')"
        [[ -n "${pids// /}" ]] || break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.2
    done
    [[ -z "$(cgroup_pids)" ]] || die "processes left in the cgroup $CGROUP_ROOT: $(cgroup_pids | tr '\n' ' ')"
    for h in $(cgroup_hierarchies); do
        if [[ -d "$h$CGROUP_ROOT" ]]; then find "$h$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
        [[ ! -d "$h$CGROUP_ROOT" ]] || die "could not remove the cgroup $h$CGROUP_ROOT"
    done
}

# launch_in_node C NETNS|- CMD...: like launch, inside CGROUP_ROOT/system and (unless -) the node's namespace
launch_in_node() {
    local c="$1" ns="$2"; shift 2
    launch "$c" "$DBOP_TOOLCHAIN_DIR/node/enter.sh" "$ns" "$CGROUP_ROOT/system" "$@"
}

# ------------------------------------------------------------------------------------------- mounts
# node_mounts: mount points under the node's directories, deepest first
node_mounts() {
    local dirs=("$KUBELET_ROOT" "$CONTAINERD_ROOT" "$CONTAINERD_STATE" "$NODE_RUN" "$NODE_DIR")
    awk '{print $5}' /proc/self/mountinfo | while read -r m; do
        m="$(printf '%b' "${m//\\/\\0}")"   # mountinfo escapes spaces etc. as \040
        for d in "${dirs[@]}"; do
            if [[ "$m" == "$d" || "$m" == "$d/"* ]]; then echo "$m"; break; fi
        done
    done | sort -ru
}

node_unmount_all() {
    local m
    for m in $(node_mounts); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    [[ -z "$(node_mounts)" ]] || die "mounts left behind: $(node_mounts | tr '\n' ' ')"
}

# ------------------------------------------------------------------------------------------- configs
node_write_configs() {
    local pause="$1"
    mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/pod-logs" "$KUBELET_ROOT" "$CONTAINERD_ROOT" "$NODE_RUN"
    write_kubeconfig "$NODE_DIR/kubelet.kubeconfig" "kubelet-$NODE_NAME" "https://$LINK_HOST_IP:$APISERVER_PORT"
    write_kubeconfig "$NODE_DIR/kube-proxy.kubeconfig" kube-proxy "https://$LINK_HOST_IP:$APISERVER_PORT"
    write_kubeconfig "$NODE_DIR/coredns.kubeconfig" coredns "https://$LINK_HOST_IP:$APISERVER_PORT"
    write_kubeconfig "$NODE_DIR/kube-router.kubeconfig" kube-router "https://$LINK_HOST_IP:$APISERVER_PORT"

    cat >"$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCKET"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  # No CAP_SYS_RESOURCE on this kind of machine: the pod sandbox's oom_score_adj of -998 cannot be set, and
  # every container would fail. With this, containerd never sets a value below its own.
  restrict_oom_score_adj = true
  # pod network namespaces under our state dir, not /run/netns (shared by every cluster): stop can find them
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # runc, not crun: Debian's crun refuses hybrid cgroups ("cgroups in hybrid mode not supported")
        BinaryName = "$(command -v runc)"
        Root = "$CONTAINERD_STATE/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF

    cat >"$NODE_DIR/cni/net.d/10-dbop.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "dbop",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_RUN/cni-ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_POD_GATEWAY"}]],
        "routes": [{"dst": "$SERVICE_CIDR"}, {"dst": "$LINK_CIDR"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

    : >"$NODE_DIR/resolv.conf"   # pods get no search domains or servers of this machine's
    cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This kind of machine has cgroup v1 (hybrid: v1 controllers, cgroup2 only at /sys/fs/cgroup/unified). Since
# Kubernetes 1.35 the kubelet refuses to start on cgroup v1 unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs          # no systemd here
cgroupRoot: $CGROUP_ROOT        # one per cluster: two kubelets must not share /kubepods
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
podLogsDir: $NODE_DIR/pod-logs
clusterDomain: cluster.local
clusterDNS: [$NODE_DNS_IP]
resolvConf: $NODE_DIR/resolv.conf
failSwapOn: false
# No registry can be reached: an image the kubelet garbage-collects is gone for good.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
EOF

    cat >"$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $NODE_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $NODE_POD_CIDR
mode: iptables
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# leave the machine-wide conntrack sysctls alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF

    cat >"$NODE_DIR/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:8080
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $NODE_DIR/coredns.kubeconfig dbop-local
        pods insecure
    }
    cache 30
}
EOF
}

# ------------------------------------------------------------------------------------------- images
# node_images: builds what is missing (toolchain/images.sh) and prints the images' directory
node_images() {
    local images_sh="$DBOP_TOOLCHAIN_DIR/images.sh" dir
    [[ -x "$images_sh" ]] || die "$images_sh not found: it builds the images the real node runs"
    "$images_sh" >&2 || die "toolchain/images.sh failed"
    dir="$("$images_sh" --print-dir)"
    [[ -f "$dir/images.txt" && -s "$dir/pause-image" ]] || die "$dir lacks images.txt or pause-image"
    echo "$dir"
}

# image_config_digest TAR: the digest of a docker-archive's image config (its file is named by it), the image's id
image_config_digest() {
    tar --occurrence=1 -xOf "$1" manifest.json | sed -n 's/.*"Config": *"\([0-9a-f]\{64\}\)\.json".*/sha256:\1/p'
}

# node_import_images DIR: imports every image of DIR/images.txt whose digest containerd lacks. containerd's CRI
# names each image it has also by its id (`sha256:<config digest>`): REF is present, and the very image, when it
# and that id name the same manifest. A reset keeps containerd's root (cluster.sh), so nothing is imported again.
node_import_images() {
    local dir="$1" listing ref tar id have
    listing="$(ctr_ images ls)"
    digest_of() { awk -v name="$1" '$1 == name { print $3 }' <<<"$listing"; }
    while read -r ref tar; do
        [[ -n "$ref" && "$ref" != \#* ]] || continue
        id="$(image_config_digest "$dir/$tar")"
        [[ -n "$id" ]] || die "$dir/$tar has no image config named by its digest"
        have="$(digest_of "$ref")"
        if [[ -n "$have" && "$have" == "$(digest_of "$id")" ]]; then continue; fi
        log "importing $ref"
        ctr_ images import "$dir/$tar" >/dev/null || die "could not import $dir/$tar"
        grep -qxF "$ref" <<<"$(ctr_ images ls -q)" || die "$dir/$tar did not give the image $ref"
    done <"$dir/images.txt"
}

# ------------------------------------------------------------------------------------ cluster objects
node_objects() {
    kubectl_ apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "dbop:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "dbop:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "dbop:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
# kube-router's network-policy controller: the policies, the pods and namespaces they select, its own Node.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "dbop:kube-router"}
rules:
- apiGroups: [""]
  resources: [pods, namespaces, nodes]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "dbop:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "dbop:kube-router"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:kube-router"}]
---
# CoreDNS runs on the node (not as a pod): the Service points at it by a hand-made EndpointSlice.
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $NODE_DNS_IP
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-$NODE_NAME
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: cluster.sh.dbop.local}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}, nodeName: $NODE_NAME}]
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
# Pods reach the API server through the kubernetes Service: its endpoint is the host's end of the node's link
# (the API server's own endpoint reconciler is off, it only knows 127.0.0.1).
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-$NODE_NAME
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: cluster.sh.dbop.local}
addressType: IPv4
endpoints: [{addresses: ["$LINK_HOST_IP"], conditions: {ready: true}}]
ports: [{name: https, port: $APISERVER_PORT, protocol: TCP}]
EOF
}

# ---------------------------------------------------------------------------------------------- waits
# node_ready: Ready, as reported by the kubelet started now (a Node keeps saying Ready for a while after a stop)
node_ready() {
    local ready
    ready="$(kubectl_ get node "$NODE_NAME" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')"
    [[ "${ready%% *}" == True && ! "${ready#* }" < "$KUBELET_STARTED" ]]
}
dns_healthy() { [[ "$(in_node curl -sS --max-time 2 http://127.0.0.1:8080/health)" == OK ]]; }
proxy_healthy() { in_node curl -fsS --max-time 2 -o /dev/null http://127.0.0.1:10256/healthz; }
# kube-router answers its health check at once: wait for the chains its policy controller makes when it runs
router_running() {
    in_node curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$KUBE_ROUTER_HEALTH_PORT/healthz" &&
        in_node iptables -S KUBE-ROUTER-FORWARD >/dev/null 2>&1
}

# -------------------------------------------------------------------------------------------- commands
node_start() {
    local b images pause
    for b in kubelet kube-proxy coredns kube-router; do
        [[ -x "$BIN/$b" ]] || die "$BIN/$b missing: run toolchain/build.sh"
    done
    need containerd; need ctr containerd; need runc; need iptables; need ipset; need conntrack; need nsenter util-linux
    need ip iproute2; need sysctl procps; need mountpoint util-linux; need python3
    [[ -x "$CNI_BIN_DIR/bridge" ]] || need "$CNI_BIN_DIR/bridge" containernetworking-plugins
    images="$(node_images)"
    pause="$(cat "$images/pause-image")"
    DEADLINE=$((SECONDS + TIMEOUT))   # building the images (first start) does not count
    node_pki
    node_network_up
    node_cgroups_up
    node_write_configs "$pause"

    launch_in_node containerd "$NETNS_PATH" containerd --config "$NODE_DIR/containerd.toml"
    wait_for containerd ctr_ version || die "containerd did not start"
    node_import_images "$images"

    KUBELET_STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    launch_in_node kubelet "$NETNS_PATH" "$BIN/kubelet" \
        --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
        --root-dir="$KUBELET_ROOT" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
        --node-labels=type=real
    launch_in_node kube-proxy "$NETNS_PATH" "$BIN/kube-proxy" --config="$NODE_DIR/kube-proxy.yaml"
    wait_for "the kube-dns Service" node_objects || die "could not create the kube-dns Service"
    launch_in_node coredns "$NETNS_PATH" "$BIN/coredns" -conf "$NODE_DIR/Corefile"
    launch_in_node provisioner - python3 "$DBOP_TOOLCHAIN_DIR/node/provisioner.py" \
        --server "https://127.0.0.1:$APISERVER_PORT" \
        --ca "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
        --name "$PROVISIONER_NAME" --node "$NODE_NAME" --volumes "$NODE_VOLUMES"
    wait_for "node $NODE_NAME Ready" node_ready || die "the real node did not become Ready (cluster.sh logs kubelet)"
    # after Ready: it reads its Node (addresses) once at start and exits if the Node is not there yet
    launch_in_node kube-router "$NETNS_PATH" "$BIN/kube-router" --kubeconfig="$NODE_DIR/kube-router.kubeconfig" \
        --hostname-override="$NODE_NAME" --service-cluster-ip-range="$SERVICE_CIDR" \
        --health-port="$KUBE_ROUTER_HEALTH_PORT"
    wait_for "kube-proxy" proxy_healthy || die "kube-proxy is not healthy (cluster.sh logs kube-proxy)"
    wait_for "CoreDNS" dns_healthy || die "CoreDNS is not healthy (cluster.sh logs coredns)"
    wait_for "kube-router" router_running || die "kube-router is not running (cluster.sh logs kube-router)"
}

node_stop() {
    local id
    stop_components provisioner kube-router coredns kube-proxy kubelet
    if running containerd; then
        # the pods' containers and sandboxes: the kubelet makes them anew at the next start
        log "stopping the pods' containers"
        for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks rm -f "$id" >/dev/null 2>&1 || true; done
        for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1 || true; done
        log "stopping containerd"
    fi
    stop_component containerd
    node_cgroups_down
    node_unmount_all
    node_network_down
    rm -rf "$NODE_RUN"
    # the kubelet's links to our pods' logs (its /var/log/containers is fixed, shared by every cluster)
    if [[ -d /var/log/containers ]]; then find /var/log/containers -lname "$NODE_DIR/pod-logs/*" -delete; fi
}

# node_leftovers: what a stopped node must not leave behind, one line each
node_leftovers() {
    local h
    for h in $(cgroup_hierarchies); do [[ ! -d "$h$CGROUP_ROOT" ]] || echo "cgroup $h$CGROUP_ROOT"; done
    node_mounts | sed 's/^/mount /'
    [[ ! -e "$NETNS_PATH" ]] || echo "netns $NODE_NETNS"
    ! ip link show "$HOST_VETH" >/dev/null 2>&1 || echo "veth $HOST_VETH"
    iptables -t nat -S PREROUTING 2>/dev/null | grep -F -- "$IPTABLES_TAG" | sed 's/^/iptables /' || true
    ip -4 route show exact "$NODE_POD_CIDR" | grep -v '^unreachable ' | sed 's/^/route /' || true
}

node_status() {
    printf '%-24s %s (InternalIP %s, netns %s, link %s, pods %s, cgroup %s)\n' "node" "$NODE_NAME" "$NODE_IP" \
        "$NODE_NETNS" "$LINK_CIDR" "$NODE_POD_CIDR" "$CGROUP_ROOT"
    printf '%-24s %s\n' "unreachable on the host" "$NODE_POD_SUPERNET $SERVICE_CIDR $POD_CIDR (except what a node routes)"
}
