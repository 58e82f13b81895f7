#!/bin/sh
# Secrets, onboarding and rolling restarts for deploy/k8s (see
# deploy/README.md). Runs on an operator's machine with kubectl (context
# pointing at the cluster) and roamctl on PATH (go build -o bin/
# ./cmd/roamctl). Private material stays in $ROAM_ADMIN_DIR (default
# ./roam-admin): the CA key and the admin keys. Nothing private is
# committed, and no admin key is written into a pod.
#
#   roam-k8s.sh secrets   after `kubectl apply -k deploy/k8s`: the CA, admin
#                         keys and genesis (each made once, then kept), the
#                         node certificates; Secrets roam-genesis and
#                         roamd-J-tls. Zhejiang's pod then starts and
#                         bootstraps (within 24 h: the genesis expires).
#   roam-k8s.sh onboard   once roamd-330000-0 is ready: onboard the three
#                         provinces and their admin keys, record the first
#                         member, register its issuer key; then the join
#                         tokens, Secrets roamd-J-join: the other pods start.
#   roam-k8s.sh enrol     once every pod is ready: register the joined
#                         nodes' issuer keys; agreements 410000←330000 and
#                         110000←330000.
#   roam-k8s.sh certs     renew the node certificates (same CA, same names)
#                         and update the Secrets roamd-J-tls; nothing else.
#                         Then `roam-k8s.sh roll`: roamd reads them at start.
#   roam-k8s.sh roll [J…] restart the roamd pods one at a time, each once
#                         every voter is ready (default: the joiners, then
#                         Zhejiang). The StatefulSets are OnDelete: this is
#                         how an image bump or a config change reaches them.
#   roam-k8s.sh hosts J   print the names node J's certificate carries.
#
# Like deploy/compose's setup.sh, every step that must happen once (the CA,
# each admin key, the genesis, onboarding, agreements) is recorded in
# $ROAM_ADMIN_DIR/done/ and skipped when the script runs again. Above all
# the genesis: every node pins the genesis it first started with and
# refuses another, so `secrets` never signs a second one, and never
# replaces an existing Secret roam-genesis.
set -eu

phase=${1:?usage: roam-k8s.sh secrets|onboard|enrol|certs|roll [J…]|hosts J}
shift
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
# The pod's stable DNS name under its headless Service: raft_advertise and
# grpc_advertise in its ConfigMap.
pod_dns() { echo "roamd-$1-0.roamd-$1-peers.$NS.svc.cluster.local"; }
# node_hosts J: every name node J is dialled at: the pod DNS name (Raft,
# and gRPC from peers; the leader checks the Raft name too), the client
# Service roamd-J in its long and short forms (roamd-J.roam.svc…, roamd-J.roam,
# roamd-J), and the loopback of kubectl port-forward.
node_hosts() {
	echo "$(pod_dns "$1") roamd-$1.$NS.svc.cluster.local roamd-$1.$NS.svc roamd-$1.$NS roamd-$1 127.0.0.1 localhost"
}

# once NAME CMD...: run CMD unless a step called NAME already succeeded.
once() {
	step=$1
	shift
	if [ -f "$A/done/$step" ]; then
		echo "roam-k8s: $step: done already"
		return 0
	fi
	echo "roam-k8s: $step"
	"$@"
	mkdir -p "$A/done"
	: >"$A/done/$step"
}

# The steps that make the federation's lasting material keep what exists
# (also from a run of an older version of this script, without done/).
make_ca() { [ -f "$A/ca/ca-key.pem" ] || roamctl tls ca --out-dir "$A/ca"; }
genkey() { [ -f "$K/$1.jwk" ] || roamctl key generate --out "$K/$1.jwk" >"$K/$1.pub.jwk"; }

# put_secret NAME FILE...: create or update Secret NAME with one key per
# file, named after the file (what the pods' projected volumes name).
put_secret() {
	name=$1
	shift
	n=$#
	for f in "$@"; do set -- "$@" "--from-file=$f"; done
	shift "$n"
	kubectl -n "$NS" create secret generic "$name" "$@" --dry-run=client -o yaml | kubectl apply -f -
}

secret_exists() { [ -n "$(kubectl -n "$NS" get secret "$1" --ignore-not-found -o name)" ]; }

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

# certs: a certificate per node from the existing CA, into roamd-J-tls.
# Touches neither the CA, the admin keys nor the genesis.
certs() {
	[ -f "$A/ca/ca.pem" ] && [ -f "$A/ca/ca-key.pem" ] || {
		echo "roam-k8s: no CA in $A/ca: run roam-k8s.sh secrets first (never make a second CA for a running federation)" >&2
		exit 1
	}
	mkdir -p "$S/tls"
	for j in $ALL; do
		set --
		for h in $(node_hosts "$j"); do set -- "$@" --host "$h"; done
		roamctl tls issue --ca-dir "$A/ca" --jurisdiction "$j" --out-dir "$S/tls" "$@"
		put_secret "roamd-$j-tls" "$S/tls/ca.pem" "$S/tls/$j.pem" "$S/tls/$j-key.pem"
	done
}

sign_genesis() {
	[ -f "$S/genesis.json" ] || roamctl genesis --national-jwk "$K/national-1.pub.jwk" --national-jwk "$K/national-2.pub.jwk" --national-jwk "$K/national-3.pub.jwk" \
		--quorum 2 --admin-key "$K/national-1.jwk" --admin-key "$K/national-2.jwk" --out "$S/genesis.json"
}

secrets() {
	# A cluster that already has a genesis is only ever served from the
	# admin dir that signed it: anything else would mint a second CA and
	# admin keys the genesis does not know.
	if secret_exists roam-genesis; then
		[ -f "$S/genesis.json" ] || {
			echo "roam-k8s: Secret roam-genesis exists but $S/genesis.json does not: run from the ROAM_ADMIN_DIR that made this federation" >&2
			exit 1
		}
		kubectl -n "$NS" get secret roam-genesis -o jsonpath='{.data.genesis\.json}' | base64 -d | cmp -s - "$S/genesis.json" || {
			echo "roam-k8s: Secret roam-genesis differs from $S/genesis.json: the nodes pinned the Secret's; not touching it" >&2
			exit 1
		}
	fi
	mkdir -p "$K" "$S/tls"
	once ca make_ca
	for j in $ALL; do once "admin-key-$j" genkey "$j"; done
	for i in 1 2 3; do once "admin-key-national-$i" genkey "national-$i"; done
	if secret_exists roam-genesis; then
		echo "roam-k8s: Secret roam-genesis exists: kept (every node pins its genesis)"
	else
		once genesis sign_genesis
		[ -f "$S/genesis.json" ] || {
			echo "roam-k8s: the genesis was signed before but $S/genesis.json is gone; restore it (a new one makes a new federation)" >&2
			exit 1
		}
		put_secret roam-genesis "$S/genesis.json"
	fi
	certs
}

onboard() {
	kubectl -n "$NS" wait --for=condition=Ready "pod/roamd-$BOOT-0" --timeout=300s
	pf_start
	N="roamctl --admin-key $K/national-1.jwk"
	for j in $ALL; do
		once "jurisdiction-$j" $N jurisdiction add "$j" --name "$(name_of "$j")"
		once "admin-$j" $N admin add --jurisdiction "$j" --jwk "$K/$j.pub.jwk" --holder "$(name_of "$j") health commission"
	done
	once "member-$BOOT" $N cluster join --jurisdiction "$BOOT" --raft "$(pod_dns "$BOOT"):7420" --grpc "$(pod_dns "$BOOT"):7410"
	once "issuer-key-$BOOT" key_add "$BOOT"
	for j in $JOINERS; do
		once "join-token-$j" $N --command-ttl 24h cluster join-token --jurisdiction "$j" --raft "$(pod_dns "$j"):7420" \
			--grpc "$(pod_dns "$j"):7410" --out "$S/join-$j.json"
		put_secret "roamd-$j-join" "$S/join-$j.json"
	done
}

enrol() {
	for j in $JOINERS; do kubectl -n "$NS" wait --for=condition=Ready "pod/roamd-$j-0" --timeout=300s; done
	for j in $JOINERS; do once "issuer-key-$j" key_add "$j"; done
	pf_start
	for h in $JOINERS; do
		once "agreement-$h-$BOOT-proposed" roamctl --admin-key "$K/$h.jwk" agreement propose --host "$h" --issuer "$BOOT" --from "$today" --as "$h"
		once "agreement-$h-$BOOT-accepted" roamctl --admin-key "$K/$BOOT.jwk" agreement accept "$h-$BOOT" --as "$BOOT"
	done
	roamctl cluster status
}

# roll [J…]: one pod at a time, and only while every voter is ready, so at
# most one Raft voter is ever down (3 voters keep a quorum of 2).
roll() {
	[ $# -gt 0 ] || set -- $JOINERS $BOOT
	for j in "$@"; do
		for k in $ALL; do kubectl -n "$NS" wait --for=condition=Ready "pod/roamd-$k-0" --timeout=600s; done
		kubectl -n "$NS" delete pod "roamd-$j-0" --wait=true
		until kubectl -n "$NS" get pod "roamd-$j-0" >/dev/null 2>&1; do sleep 2; done
		kubectl -n "$NS" wait --for=condition=Ready "pod/roamd-$j-0" --timeout=600s
	done
}

case $phase in
secrets) secrets ;;
onboard) onboard ;;
enrol) enrol ;;
certs) certs ;;
roll) roll "$@" ;;
hosts) for h in $(node_hosts "${1:?usage: roam-k8s.sh hosts J}"); do echo "$h"; done ;;
*)
	echo "usage: roam-k8s.sh secrets|onboard|enrol|certs|roll [J…]|hosts J" >&2
	exit 2
	;;
esac
