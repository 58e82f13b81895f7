// Package deploy owns roam's deployment artefacts (issue 7 §3) and the test
// that keeps them honest: the container image (Dockerfile), a three-province
// docker compose stack with an OpenTelemetry collector, Prometheus and
// Grafana (compose/), Kubernetes manifests applied with kubectl apply -k
// (k8s/), the Grafana dashboard (grafana/), one example roamd serve config
// per demo province (configs/), and roam-healthcheck (healthcheck/), the
// HTTP probe the distroless image runs as a container healthcheck.
//
// deploy_test.go parses every YAML and JSON file here, loads every roamd
// serve config with node.LoadConfig (the check roamd serve makes at start),
// checks the Kubernetes objects and the compose file against each other and
// against the configs, and checks that the dashboard queries only metric
// families roamd exports. It needs no network, docker or cluster.
//
// This package holds no Go API and nothing in roam imports it. It must not
// hold secret material (certificates, keys, genesis files, join tokens):
// those are made at install time by roamctl (deploy/README.md). Node
// behaviour belongs in federation/node, never in a deploy script.
package deploy
