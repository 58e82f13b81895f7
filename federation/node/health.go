package node

import (
	"fmt"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Health (issue 7 §1): a node is live while its process serves, and ready
// when it has registered itself, its registry replica has caught up with
// the Raft leader since it started, and it heard from the leader within
// max_staleness: exactly when its decisions are not registry_stale.

// servedServices are the gRPC services whose health the node reports,
// besides the whole server ("").
var servedServices = []string{
	roamv1.RecognitionService_ServiceDesc.ServiceName,
	roamv1.RegistryService_ServiceDesc.ServiceName,
	roamv1.PeeringService_ServiceDesc.ServiceName,
	roamv1.IssuanceService_ServiceDesc.ServiceName,
}

// registerHealth adds the gRPC health service (grpc.health.v1, every
// service NOT_SERVING until ready) and server reflection (so grpcurl can
// list and call the services).
func registerHealth(n *Node) {
	n.health = health.NewServer()
	for _, s := range append([]string{""}, servedServices...) {
		n.health.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(n.grpc, n.health)
	reflection.Register(n.grpc)
}

// readiness reports whether the node is ready, and if not, why (for
// /readyz and logs).
func (n *Node) readiness() (bool, string) {
	select {
	case <-n.ready:
		if n.readyErr != nil {
			return false, fmt.Sprintf("registration failed: %v", n.readyErr)
		}
	default:
		return false, "registering this node with the cluster"
	}
	stale, caughtUp := n.freshness()
	switch {
	case !caughtUp:
		return false, "the registry replica has not caught up with the Raft leader since start"
	case stale > n.cfg.MaxStaleness:
		return false, fmt.Sprintf("last heard from the Raft leader %s ago; max_staleness is %s", stale.Round(time.Second), n.cfg.MaxStaleness)
	}
	return true, "ready"
}

// updateHealth sets every service's gRPC health status from readiness;
// trackLeaderContact calls it on each sample.
func (n *Node) updateHealth() {
	if n.health == nil {
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok, _ := n.readiness(); ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	if n.lastHealth.Swap(int32(st)) == int32(st) {
		return
	}
	for _, s := range append([]string{""}, servedServices...) {
		n.health.SetServingStatus(s, st)
	}
}
