# Source me (bash): `. toolchain/env.sh` after `toolchain/build.sh`.
# Puts the toolchain bin dir first on PATH and sets what Pulumi and tests need:
#   DBOP_TOOLCHAIN_BIN   bin dir with pulumi, pulumi-language-python(-exec),
#                        pulumi-resource-kubernetes, etcd, kube-*, kubectl, kwok
#   DBOP_KUBECONFIG      admin kubeconfig of the local cluster (toolchain/cluster.sh)
#   KUBECONFIG           = DBOP_KUBECONFIG (set DBOP_KEEP_KUBECONFIG=1 to leave it alone)
#   PULUMI_SKIP_UPDATE_CHECK=true
#   PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true   (plugins are found on PATH)
#   PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true      (SDK and CLI are pinned together)
#   PULUMI_HOME          ${PULUMI_HOME:-$DBOP_CACHE/pulumi-home} (no state in ~/.pulumi)
# Pulumi still needs a backend and a passphrase from the caller, e.g.
#   PULUMI_BACKEND_URL=file:///some/dir  PULUMI_CONFIG_PASSPHRASE=...
# shellcheck shell=bash

# shellcheck source=toolchain/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ ! -f "$DBOP_TOOLCHAIN_HOME/.complete" ]]; then
    echo "toolchain/env.sh: warning: toolchain not built at $DBOP_TOOLCHAIN_BIN (run toolchain/build.sh)" >&2
fi

case ":$PATH:" in
    *":$DBOP_TOOLCHAIN_BIN:"*) ;;
    *) PATH="$DBOP_TOOLCHAIN_BIN:$PATH" ;;
esac
export PATH DBOP_CACHE DBOP_TOOLCHAIN_BIN DBOP_TOOLCHAIN_HOME DBOP_CLUSTER_DIR DBOP_KUBECONFIG
export PULUMI_VERSION PULUMI_KUBERNETES_VERSION KUBERNETES_VERSION
if [[ "${DBOP_KEEP_KUBECONFIG:-0}" != 1 ]]; then
    export KUBECONFIG="$DBOP_KUBECONFIG"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_HOME="${PULUMI_HOME:-$DBOP_CACHE/pulumi-home}"
