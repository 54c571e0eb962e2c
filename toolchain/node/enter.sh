#!/usr/bin/env bash
# enter.sh NETNS-PATH|- CGROUP CMD...: run CMD in CGROUP (a path under every mounted cgroup hierarchy, which
# must exist) and, unless NETNS-PATH is "-", in that network namespace. Used by toolchain/cluster.sh for
# the real node's processes, so that `cluster.sh stop` finds every one of them (and their children).
set -euo pipefail
ns="$1" cgroup="$2"
shift 2
for hierarchy in /sys/fs/cgroup/*/; do
    if [[ -f "$hierarchy$cgroup/cgroup.procs" ]]; then echo $$ >"$hierarchy$cgroup/cgroup.procs"; fi
done
if [[ "$ns" == - ]]; then exec "$@"; fi
exec nsenter --net="$ns" -- "$@"
