// CoreDNS for the local cluster's real node, with only the plugins its Corefile uses
// (toolchain/cluster.sh writes it): cluster records from the API server (kubernetes),
// a cache, a health endpoint for the start-up wait, errors to the log, and bind. No
// forward plugin: names outside the cluster are not resolved (traffic stays on this machine).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func main() {
	coremain.Run()
}
