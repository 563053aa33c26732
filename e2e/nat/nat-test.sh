#!/usr/bin/env bash
# NAT traversal for real: two Murmur agents, each behind its own masquerading NAT, meet
# through a `murmur relay` on a "public" network and must end up with a direct
# (non-relayed) connection. Needs root, iproute2, iptables and coturn's turnserver.
#
#   public net  ${PUBLIC_PREFIX}.0/24    (namespace mnat-pub: relay + STUN at .1)
#   router 1    ${PUBLIC_PREFIX}.11  <-> 192.168.101.1   MASQUERADE   agent 1: 192.168.101.2
#   router 2    ${PUBLIC_PREFIX}.12  <-> 192.168.102.1   MASQUERADE   agent 2: 192.168.102.2
#
# Agent 2 dials agent 1 by peer id (`murmur agent --dial`): the relayed connection first,
# then DCUtR / the direct upgrade (TCP), then WebRTC with STUN. The script prints which
# transports gave a direct connection; the agents' lines `DIRECT <peer> <transport> <addr>`
# are the hook for work over that connection.
#
# Then the work itself: shard-peer.mjs agents (the same createNodePeer/runAgent, plus a
# model) replace them in the two namespaces. The one behind NAT 1 publishes a model of
# SHARD_MIB MiB of random weights; the one behind NAT 2 reaches it through the relay, waits
# for a direct connection and fetches every shard over it, rebuilds the snapshot and checks
# its sha256. The script exits 0 only if the agents got a direct connection and the fetch
# matched, carried by direct connections only (`FETCHED ... via=<transport>:direct ...`).
#
# Env: PUBLIC_PREFIX (default 10.99.0; libp2p counts 10/8 as private, so DCUtR will not
#      even try it), ROUTER_FIREWALL=0 drops the routers' INPUT firewall (WebRTC then
#      fails, see setup_router), NODE (default the repo's pinned Node 24), KEEP_LOGS=1
#      keeps the log directory, SHARD_MIB (default 2) sizes the fetched model. Only one
#      run at a time (a lock enforces it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CLI="$REPO/packages/node/dist/src/cli/index.js"
SHARD_PEER="$HERE/shard-peer.mjs"
NODE="${NODE:-$REPO/node_modules/.bin/node}"
PUB="${PUBLIC_PREFIX:-10.99.0}"
NS_PUB=mnat-pub NS_R1=mnat-r1 NS_R2=mnat-r2 NS_A1=mnat-a1 NS_A2=mnat-a2
ALL_NS=("$NS_A1" "$NS_A2" "$NS_R1" "$NS_R2" "$NS_PUB")
LOGS="$(mktemp -d /tmp/murmur-nat.XXXXXX)"
PIDS=()

say () { printf '[nat] %s\n' "$*" >&2; }
fail () { say "FAIL: $*"; exit 1; }

for tool in ip iptables turnserver; do
  command -v "$tool" >/dev/null || { say "missing $tool (apt-get install -y iproute2 iptables coturn)"; exit 2; }
done
[ "$(id -u)" = 0 ] || { say "needs root (network namespaces, iptables)"; exit 2; }
[ -x "$NODE" ] || NODE="$(command -v node)"
[ -f "$CLI" ] || { say "missing $CLI: run 'npx tsc -b' in packages/node first"; exit 2; }

exec 9>/run/lock/murmur-nat.lock
flock -w 60 9 || fail "another nat-test.sh run holds /run/lock/murmur-nat.lock"

cleanup () {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.3
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  PIDS=()
  # anything else still running inside our namespaces was started by this script too
  local ns
  for ns in "${ALL_NS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  # deleting a namespace deletes its veth ends and iptables rules with it
  for ns in "${ALL_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ "${KEEP_LOGS:-0}" = 1 ]; then say "logs kept in $LOGS"; else rm -rf "$LOGS"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# leftovers of a run that was killed before its trap ran
for ns in "${ALL_NS[@]}"; do
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
done

in_ns () { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Start a long-running process in a namespace; `ip netns exec` execs it, so $! is its pid.
# fd 9 (the lock) stays behind so a straggler cannot hold the lock.
spawn () { # namespace stdout-file stderr-file command...
  local ns=$1 out=$2 err=$3; shift 3
  ip netns exec "$ns" "$@" >"$out" 2>"$err" 9>&- &
  PIDS+=($!)
}

# --- the networks -------------------------------------------------------------------
for ns in "${ALL_NS[@]}"; do ip netns add "$ns"; in_ns "$ns" ip link set lo up; done

in_ns "$NS_PUB" ip link add br0 type bridge
in_ns "$NS_PUB" ip addr add "$PUB.1/24" dev br0
in_ns "$NS_PUB" ip link set br0 up

setup_router () { # router-ns agent-ns public-host-octet private-subnet-third-octet
  local r=$1 a=$2 host=$3 net=$4
  ip link add "$r-wan" netns "$r" type veth peer name "$r-br" netns "$NS_PUB"
  in_ns "$NS_PUB" ip link set "$r-br" master br0 up
  in_ns "$r" ip addr add "$PUB.$host/24" dev "$r-wan"
  in_ns "$r" ip link set "$r-wan" up
  ip link add "$r-lan" netns "$r" type veth peer name eth0 netns "$a"
  in_ns "$r" ip addr add "192.168.$net.1/24" dev "$r-lan"
  in_ns "$r" ip link set "$r-lan" up
  in_ns "$a" ip addr add "192.168.$net.2/24" dev eth0
  in_ns "$a" ip link set eth0 up
  in_ns "$a" ip route add default via "192.168.$net.1"
  in_ns "$r" sysctl -qw net.ipv4.ip_forward=1
  # a home router: rewrite outgoing sources to its public address, let replies back in,
  # nothing else. The INPUT drop is the router's own firewall (as on OpenWrt's wan zone);
  # without it an unsolicited hole-punch packet to the router gets a conntrack entry that
  # takes the very port MASQUERADE needs for the agent's answer, and the punch fails
  in_ns "$r" iptables -t nat -A POSTROUTING -o "$r-wan" -j MASQUERADE
  in_ns "$r" iptables -A FORWARD -i "$r-wan" -o "$r-lan" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$r" iptables -A FORWARD -i "$r-wan" -o "$r-lan" -j DROP
  if [ "${ROUTER_FIREWALL:-1}" = 1 ]; then
    in_ns "$r" iptables -A INPUT -i "$r-wan" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    in_ns "$r" iptables -A INPUT -i "$r-wan" -j DROP
  fi
}
setup_router "$NS_R1" "$NS_A1" 11 101
setup_router "$NS_R2" "$NS_A2" 12 102

in_ns "$NS_A1" ip route get "$PUB.1" >/dev/null || fail "agent 1 has no route to the public net"
in_ns "$NS_PUB" ip route get 192.168.101.2 >/dev/null 2>&1 && fail "private net 1 is routable from the public net: not a NAT"

# --- STUN and relay -----------------------------------------------------------------
spawn "$NS_PUB" "$LOGS/stun.out" "$LOGS/stun.err" turnserver -n --stun-only --listening-ip "$PUB.1" \
  --listening-port 3478 --no-cli --no-tls --no-dtls --simple-log --log-file "$LOGS/stun.log" --pidfile "$LOGS/stun.pid"

spawn "$NS_PUB" "$LOGS/relay.out" "$LOGS/relay.err" "$NODE" "$CLI" relay --host "$PUB.1" --tcp-port 4001 --ws-port 4002 --webrtc-port 4003

wait_for () { # file pattern seconds
  local file=$1 pattern=$2 tries=$(( $3 * 10 ))
  for _ in $(seq 1 "$tries"); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

wait_for "$LOGS/relay.out" '/tcp/4001/p2p/' 10 || { cat "$LOGS/relay.err" >&2; fail "relay did not start"; }
RELAY="$(grep -m1 '/tcp/4001/p2p/' "$LOGS/relay.out")"
say "relay $RELAY"

ICE="stun:$PUB.1:3478"
spawn "$NS_A1" "$LOGS/a1.out" "$LOGS/a1.err" "$NODE" "$CLI" agent --bootstrap "$RELAY" --session nat-test --ice-servers "$ICE"
wait_for "$LOGS/a1.out" '^RESERVED ' 15 || { cat "$LOGS/a1.out" "$LOGS/a1.err" >&2; fail "agent 1 got no relay reservation"; }
A1="$(sed -n 's/^PEER //p' "$LOGS/a1.out")"
say "agent 1 $A1 (behind NAT 1)"

spawn "$NS_A2" "$LOGS/a2.out" "$LOGS/a2.err" "$NODE" "$CLI" agent --bootstrap "$RELAY" --session nat-test --ice-servers "$ICE" \
  --dial "$A1" --upgrade-timeout 5
wait_for "$LOGS/a2.out" '^REPORT ' 40 || { cat "$LOGS/a2.out" "$LOGS/a2.err" >&2; fail "agent 2 did not finish dialling agent 1"; }
A2="$(sed -n 's/^PEER //p' "$LOGS/a2.out")"
REPORT="$(sed -n 's/^REPORT //p' "$LOGS/a2.out")"
say "agent 2 $A2 (behind NAT 2) -> $REPORT"

# both ends must see the direct connection
wait_for "$LOGS/a1.out" "^DIRECT $A2 " 10 || true

field () { "$NODE" -e 'const r = JSON.parse(process.argv[1]); const v = process.argv[2].split(".").reduce((o, k) => o?.[k], r); console.log(v ?? "")' "$REPORT" "$1"; }
RELAYED="$(field relayed)" UPGRADE="$(field upgrade)" WEBRTC="$(field webrtc)"

printf '%-40s %-10s %6s\n' transport result ms
printf '%-40s %-10s %6s\n' "relayed (circuit v2, signalling)" "$([ "$RELAYED" = true ] && echo ok || echo FAILED)" "$(field ms.relayed)"
printf '%-40s %-10s %6s\n' "DCUtR / direct upgrade (TCP)" "$([ -n "$UPGRADE" ] && echo "ok:$UPGRADE" || echo failed)" "$(field ms.upgrade)"
printf '%-40s %-10s %6s\n' "WebRTC via STUN ($ICE)" "$([ "$WEBRTC" = true ] && echo ok || echo failed)" "$(field ms.webrtc)"
grep -h '^DIRECT ' "$LOGS/a1.out" "$LOGS/a2.out" | sed 's/^/  /' || true

[ "$RELAYED" = true ] || fail "agents could not even meet through the relay"
grep -q "^DIRECT $A1 " "$LOGS/a2.out" || fail "agent 2 has no direct connection to agent 1"
grep -q "^DIRECT $A2 " "$LOGS/a1.out" || fail "agent 1 has no direct connection to agent 2"
say "PASS: direct connection across two NATs ($([ -n "$UPGRADE" ] && echo "$UPGRADE, ")$([ "$WEBRTC" = true ] && echo webrtc))"

# --- a shard fetch over the direct connection ------------------------------------------
# the CLI agents have shown what they can; free the CPU and the relay for the shard agents
for pid in "${PIDS[@]:2}"; do kill -TERM "$pid" 2>/dev/null || true; done

spawn "$NS_A1" "$LOGS/s1.out" "$LOGS/s1.err" "$NODE" "$SHARD_PEER" seed --bootstrap "$RELAY" --ice "$ICE" --mib "${SHARD_MIB:-2}"
wait_for "$LOGS/s1.out" '^SHA256 ' 30 || { cat "$LOGS/s1.out" "$LOGS/s1.err" >&2; fail "the seeding agent did not publish its model"; }
wait_for "$LOGS/s1.out" '^RESERVED ' 15 || { cat "$LOGS/s1.out" "$LOGS/s1.err" >&2; fail "the seeding agent got no relay reservation"; }
S1="$(sed -n 's/^PEER //p' "$LOGS/s1.out")"
MANIFEST="$(sed -n 's/^MANIFEST //p' "$LOGS/s1.out")"
SHA="$(sed -n 's/^SHA256 //p' "$LOGS/s1.out")"
say "seeding agent $S1 (behind NAT 1) publishes ${SHARD_MIB:-2} MiB model $MANIFEST"

spawn "$NS_A2" "$LOGS/s2.out" "$LOGS/s2.err" "$NODE" "$SHARD_PEER" fetch --bootstrap "$RELAY" --ice "$ICE" \
  --dial "$S1" --manifest "$MANIFEST" --sha256 "$SHA"
FETCHER=${PIDS[-1]}
wait_for "$LOGS/s2.out" '^(FETCHED|FETCHFAILED) ' 80 || { cat "$LOGS/s2.out" "$LOGS/s2.err" >&2; fail "the fetching agent did not finish"; }
FETCHED="$(grep -m1 -E '^(FETCHED|FETCHFAILED) ' "$LOGS/s2.out")"
SHARD_REPORT="$(sed -n 's/^REPORT //p' "$LOGS/s2.out")"
wait "$FETCHER" 2>/dev/null && FETCH_RC=0 || FETCH_RC=$?
say "fetching agent (behind NAT 2) -> $SHARD_REPORT"
printf '%s\n' "shard fetch across two NATs:" "  $FETCHED"
grep -h '^SERVED ' "$LOGS/s1.out" | tail -n1 | sed 's/^/  seeder /' || true

case "$FETCHED" in
  FETCHED*sha256=ok*) ;;
  *) cat "$LOGS/s2.err" >&2; fail "shard fetch over the direct connection failed: $FETCHED" ;;
esac
[ "$FETCH_RC" = 0 ] || fail "the shard fetch used a relayed connection (exit $FETCH_RC): $FETCHED"
say "PASS: shard fetch over a direct connection across two NATs ($(sed -E 's/.* via=([a-z-]+):direct.*/\1/' <<<"$FETCHED"))"
