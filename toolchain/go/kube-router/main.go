// kube-router's network-policy controller alone, for the local cluster's real node: it enforces NetworkPolicies
// with iptables and ipset inside the node's network namespace. kube-router's routing (BGP), service proxy (IPVS)
// and load-balancer controllers are not linked: the CNI bridge connects the pods and kube-proxy serves Services.
// The flags are kube-router's own (--kubeconfig, --hostname-override, --service-cluster-ip-range, --health-port,
// ...); the --run-* ones are ignored.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/cloudnativelabs/kube-router/v2/pkg/version"
	"github.com/spf13/pflag"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "kube-router: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	klog.InitFlags(nil)
	config := options.NewKubeRouterConfig()
	config.AddFlags(pflag.CommandLine)
	pflag.Parse()
	if config.HelpRequested {
		pflag.Usage()
		return nil
	}
	if err := flag.Set("v", config.VLevel); err != nil {
		return err
	}
	version.PrintVersion(true)
	// The health check looks only at the controllers it is told run.
	config.RunFirewall, config.RunRouter, config.RunServiceProxy, config.RunLoadBalancer = true, false, false, false

	restConfig, err := clientcmd.BuildConfigFromFlags(config.Master, config.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}

	stop := make(chan struct{})
	var running sync.WaitGroup
	health, err := healthcheck.NewHealthController(config)
	if err != nil {
		return err
	}
	running.Add(1)
	go health.RunServer(stop, &running)

	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	namespaces := factory.Core().V1().Namespaces().Informer()
	policies := factory.Networking().V1().NetworkPolicies().Informer()
	factory.Start(stop)
	synced, cancel := context.WithTimeout(context.Background(), config.CacheSyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(synced.Done(), pods.HasSynced, namespaces.HasSynced, policies.HasSynced) {
		return fmt.Errorf("pods, namespaces and network policies not listed within %s", config.CacheSyncTimeout)
	}

	heartbeats := make(chan *healthcheck.ControllerHeartbeat, 10)
	health.SetAlive()
	running.Add(1)
	go health.RunCheck(heartbeats, stop, &running)

	iptablesHandlers, ipsetHandlers, err := netpol.NewIPTablesHandlers(config)
	if err != nil {
		return err
	}
	var ipsetLock sync.Mutex
	controller, err := netpol.NewNetworkPolicyController(
		client, config, pods, policies, namespaces, &ipsetLock, iptablesHandlers, ipsetHandlers)
	if err != nil {
		return err
	}
	for informer, handler := range map[cache.SharedIndexInformer]cache.ResourceEventHandler{
		pods:       controller.PodEventHandler,
		namespaces: controller.NamespaceEventHandler,
		policies:   controller.NetworkPolicyEventHandler,
	} {
		if _, err := informer.AddEventHandler(handler); err != nil {
			return err
		}
	}
	running.Add(1)
	go controller.Run(heartbeats, stop, &running)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	klog.Info("stopping the network policy controller")
	close(stop)
	running.Wait()
	return nil
}
