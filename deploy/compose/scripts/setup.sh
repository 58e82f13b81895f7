#!/bin/sh
# The one-shot steps of deploy/compose, run in the toolbox image (roamctl on
# Alpine) as uid 65532, the nodes' uid. Each step runs once: it is recorded
# in $ROAM_ADMIN_DIR/done/ and skipped on the next `docker compose up`.
#
#   setup.sh init     before any node starts: the federation's CA and one
#                     certificate per node, admin keys (3 national, 1 per
#                     province), the genesis (quorum 2 of 3), join tokens.
#   setup.sh onboard  once the bootstrapping node is ready: onboard every
#                     province and its admin key, record the first node,
#                     register its issuer key.
#   setup.sh enrol    once every node is ready: register the joined nodes'
#                     issuer keys, and sign the agreements in ROAM_AGREEMENTS.
#
# Environment (docker-compose.yml sets it):
#   ROAM_NODES       "J|Name|grpc host:port|raft host:port ..." — the first
#                    one bootstraps; the rest join through it.
#   ROAM_TLS_EXTRA_HOSTS  more names for every node certificate (the host
#                    side of published ports: 127.0.0.1 localhost).
#   ROAM_SECRETS     what nodes read (tls/, genesis.json, join-J.json).
#   ROAM_ADMIN_DIR   what only this helper reads (ca/ with the CA key,
#                    keys/ with the admin keys, done/).
#   ROAM_NODE_DATA   the nodes' data volumes, one per J, mounted read-only
#                    (issuer-key.pub.jwk is at $ROAM_NODE_DATA/J/J/).
#   ROAM_AGREEMENTS  "HOST<ISSUER ..." agreements to propose and accept.
#   ROAM_ADDR, ROAM_TLS_CA  the node roamctl talks to, and the CA (roamctl
#                    reads both from the environment).
set -eu

phase=${1:?usage: setup.sh init|onboard|enrol}
S=${ROAM_SECRETS:-/etc/roam}
A=${ROAM_ADMIN_DIR:-/var/lib/roam-admin}
D=${ROAM_NODE_DATA:-/nodes}
NODES=${ROAM_NODES:?ROAM_NODES is required}
K=$A/keys
ROAMCTL=${ROAMCTL:-roamctl}
umask 077

# once NAME CMD...: run CMD unless a step called NAME already succeeded.
once() {
	step=$1
	shift
	if [ -f "$A/done/$step" ]; then
		echo "setup: $step: done already"
		return 0
	fi
	echo "setup: $step"
	"$@"
	mkdir -p "$A/done"
	: >"$A/done/$step"
}

field() { echo "$1" | cut -d'|' -f"$2"; }
host() { echo "${1%:*}"; }
first=$(echo "$NODES" | awk '{print $1}')
boot=$(field "$first" 1)
today=$(date -u +%F)

# Keys are written 0600 by roamctl; public halves go next to them.
genkey() { $ROAMCTL key generate --out "$K/$1.jwk" >"$K/$1.pub.jwk"; }

issue_cert() {
	j=$1
	set -- --host "$(host "$2")" --host "$(host "$3")"
	for h in ${ROAM_TLS_EXTRA_HOSTS:-}; do set -- "$@" --host "$h"; done
	$ROAMCTL tls issue --ca-dir "$A/ca" --jurisdiction "$j" --out-dir "$S/tls" "$@"
}

init() {
	mkdir -p "$K" "$S/tls"
	once ca $ROAMCTL tls ca --out-dir "$A/ca"
	for n in $NODES; do
		j=$(field "$n" 1)
		once "cert-$j" issue_cert "$j" "$(field "$n" 3)" "$(field "$n" 4)"
		once "admin-key-$j" genkey "$j"
	done
	for i in 1 2 3; do once "admin-key-national-$i" genkey "national-$i"; done
	once genesis $ROAMCTL genesis \
		--national-jwk "$K/national-1.pub.jwk" --national-jwk "$K/national-2.pub.jwk" --national-jwk "$K/national-3.pub.jwk" \
		--quorum 2 --admin-key "$K/national-1.jwk" --admin-key "$K/national-2.jwk" --out "$S/genesis.json"
	for n in $NODES; do
		j=$(field "$n" 1)
		[ "$j" = "$boot" ] && continue
		once "join-token-$j" $ROAMCTL --admin-key "$K/national-1.jwk" --command-ttl 24h cluster join-token \
			--jurisdiction "$j" --grpc "$(field "$n" 3)" --raft "$(field "$n" 4)" --out "$S/join-$j.json"
	done
	# The nodes (uid 65532) read these; the CA key and admin keys stay in $A.
	chmod 0755 "$S" "$S/tls"
	chmod 0644 "$S"/*.json "$S/tls/ca.pem"
}

key_add() {
	$ROAMCTL --admin-key "$K/$1.jwk" key add --jurisdiction "$1" --jwk "$D/$1/$1/issuer-key.pub.jwk" --not-before "$today"
}

onboard() {
	for n in $NODES; do
		j=$(field "$n" 1)
		name=$(field "$n" 2)
		once "jurisdiction-$j" $ROAMCTL --admin-key "$K/national-1.jwk" jurisdiction add "$j" --name "$name"
		once "admin-$j" $ROAMCTL --admin-key "$K/national-1.jwk" admin add --jurisdiction "$j" --jwk "$K/$j.pub.jwk" --holder "$name health commission"
	done
	once "member-$boot" $ROAMCTL --admin-key "$K/national-1.jwk" cluster join \
		--jurisdiction "$boot" --grpc "$(field "$first" 3)" --raft "$(field "$first" 4)"
	once "issuer-key-$boot" key_add "$boot"
}

enrol() {
	for n in $NODES; do
		j=$(field "$n" 1)
		[ "$j" = "$boot" ] && continue
		once "issuer-key-$j" key_add "$j"
	done
	for ag in ${ROAM_AGREEMENTS:-}; do
		h=${ag%<*}
		i=${ag#*<}
		once "agreement-$h-$i-proposed" $ROAMCTL --admin-key "$K/$h.jwk" agreement propose --host "$h" --issuer "$i" --from "$today" --as "$h"
		once "agreement-$h-$i-accepted" $ROAMCTL --admin-key "$K/$i.jwk" agreement accept "$h-$i" --as "$i"
	done
	$ROAMCTL cluster status
}

case $phase in
init) init ;;
onboard) onboard ;;
enrol) enrol ;;
*)
	echo "usage: setup.sh init|onboard|enrol" >&2
	exit 2
	;;
esac
echo "setup: $phase complete"
