#!/bin/sh
# Secrets and onboarding for deploy/k8s (see deploy/README.md). Runs on an
# operator's machine with kubectl (context pointing at the cluster) and
# roamctl on PATH (go build -o bin/ ./cmd/roamctl). Private material stays
# in $ROAM_ADMIN_DIR (default ./roam-admin): the CA key and the admin keys.
# Nothing private is committed, and no admin key is written into a pod.
#
#   roam-k8s.sh secrets   after `kubectl apply -k deploy/k8s`: CA, node
#                         certificates (with each roamd-J-raft ClusterIP),
#                         admin keys, genesis; Secrets roam-genesis and
#                         roamd-J-tls. Zhejiang's pod then starts and
#                         bootstraps (within 24 h: the genesis expires).
#   roam-k8s.sh onboard   once roamd-330000-0 is ready: onboard the three
#                         provinces and their admin keys, record the first
#                         member, register its issuer key; then the join
#                         tokens, Secrets roamd-J-join: the other pods start.
#   roam-k8s.sh enrol     once every pod is ready: register the joined
#                         nodes' issuer keys; agreements 410000←330000 and
#                         110000←330000.
set -eu

phase=${1:?usage: roam-k8s.sh secrets|onboard|enrol}
NS=${ROAM_NAMESPACE:-roam}
A=${ROAM_ADMIN_DIR:-./roam-admin}
K=$A/keys
S=$A/secrets
BOOT=330000
JOINERS="410000 110000"
ALL="$BOOT $JOINERS"
LOCAL_PORT=${ROAM_LOCAL_PORT:-17410}
today=$(date -u +%F)
umask 077

name_of() { case $1 in 330000) echo Zhejiang ;; 410000) echo Henan ;; 110000) echo Beijing ;; esac; }
raft_ip() { kubectl -n "$NS" get service "roamd-$1-raft" -o jsonpath='{.spec.clusterIP}'; }
pod_dns() { echo "roamd-$1-0.roamd-$1-peers.$NS.svc.cluster.local"; }
genkey() { [ -f "$K/$1.jwk" ] || roamctl key generate --out "$K/$1.jwk" >"$K/$1.pub.jwk"; }

# roamctl against Zhejiang's node through a port-forward (the node
# certificates carry 127.0.0.1 for this).
pf_start() {
	kubectl -n "$NS" port-forward "pod/roamd-$BOOT-0" "$LOCAL_PORT:7410" >/dev/null &
	PF=$!
	trap 'kill $PF 2>/dev/null || true' EXIT
	sleep 3
	export ROAM_ADDR=127.0.0.1:$LOCAL_PORT ROAM_TLS_CA=$S/tls/ca.pem
}

# key_add J: register node J's issuer key. The public key is in the pod's
# data dir and the image has no shell, so roamctl runs in the pod and the
# admin key arrives on stdin (never written there).
key_add() {
	kubectl -n "$NS" exec -i "roamd-$1-0" -c roamd -- roamctl --addr 127.0.0.1:7410 --tls-ca /etc/roam/tls/ca.pem \
		--admin-key /dev/stdin key add --jurisdiction "$1" --jwk "/var/lib/roam/$1/issuer-key.pub.jwk" --not-before "$today" <"$K/$1.jwk"
}

secrets() {
	mkdir -p "$K" "$S/tls"
	[ -f "$A/ca/ca.pem" ] || roamctl tls ca --out-dir "$A/ca"
	for j in $ALL; do
		ip=$(raft_ip "$j")
		[ -n "$ip" ] || { echo "Service roamd-$j-raft has no ClusterIP yet: kubectl apply -k deploy/k8s first" >&2; exit 1; }
		roamctl tls issue --ca-dir "$A/ca" --jurisdiction "$j" --out-dir "$S/tls" \
			--host "$ip" --host "roamd-$j-raft.$NS.svc.cluster.local" --host "$(pod_dns "$j")" \
			--host "roamd-$j.$NS.svc.cluster.local" --host "roamd-$j.$NS.svc" --host 127.0.0.1 --host localhost
		genkey "$j"
		kubectl -n "$NS" create secret generic "roamd-$j-tls" --from-file="$S/tls/ca.pem" \
			--from-file="$S/tls/$j.pem" --from-file="$S/tls/$j-key.pem" --dry-run=client -o yaml | kubectl apply -f -
	done
	for i in 1 2 3; do genkey "national-$i"; done
	roamctl genesis --national-jwk "$K/national-1.pub.jwk" --national-jwk "$K/national-2.pub.jwk" --national-jwk "$K/national-3.pub.jwk" \
		--quorum 2 --admin-key "$K/national-1.jwk" --admin-key "$K/national-2.jwk" --out "$S/genesis.json"
	kubectl -n "$NS" create secret generic roam-genesis --from-file="$S/genesis.json" --dry-run=client -o yaml | kubectl apply -f -
}

onboard() {
	kubectl -n "$NS" wait --for=condition=Ready "pod/roamd-$BOOT-0" --timeout=300s
	pf_start
	N="roamctl --admin-key $K/national-1.jwk"
	for j in $ALL; do
		$N jurisdiction add "$j" --name "$(name_of "$j")"
		$N admin add --jurisdiction "$j" --jwk "$K/$j.pub.jwk" --holder "$(name_of "$j") health commission"
	done
	$N cluster join --jurisdiction "$BOOT" --raft "$(raft_ip "$BOOT"):7420" --grpc "$(pod_dns "$BOOT"):7410"
	key_add "$BOOT"
	for j in $JOINERS; do
		$N --command-ttl 24h cluster join-token --jurisdiction "$j" --raft "$(raft_ip "$j"):7420" \
			--grpc "$(pod_dns "$j"):7410" --out "$S/join-$j.json"
		kubectl -n "$NS" create secret generic "roamd-$j-join" --from-file="$S/join-$j.json" --dry-run=client -o yaml | kubectl apply -f -
	done
}

enrol() {
	for j in $JOINERS; do kubectl -n "$NS" wait --for=condition=Ready "pod/roamd-$j-0" --timeout=300s; done
	for j in $JOINERS; do key_add "$j"; done
	pf_start
	for h in $JOINERS; do
		roamctl --admin-key "$K/$h.jwk" agreement propose --host "$h" --issuer "$BOOT" --from "$today" --as "$h"
		roamctl --admin-key "$K/$BOOT.jwk" agreement accept "$h-$BOOT" --as "$BOOT"
	done
	roamctl cluster status
}

case $phase in
secrets) secrets ;;
onboard) onboard ;;
enrol) enrol ;;
*)
	echo "usage: roam-k8s.sh secrets|onboard|enrol" >&2
	exit 2
	;;
esac
