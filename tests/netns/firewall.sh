#!/usr/bin/env bash
# A national firewall in network namespaces, built from real software: the kernel's routing,
# nftables, iptables string matches, tc, unbound, nginx, and an NFQUEUE injector (censor.py).
# tests/integration/netns.rs drives the real vantage binaries through it.
#
#   firewall.sh serve DIR   build everything (configs, CA and logs under DIR), print "ready",
#                           then wait until stdin closes (or SIGTERM/SIGINT) and tear it all
#                           down, reaping every server it started
#   firewall.sh down        remove everything of ours (vtn-* namespaces and the processes in
#                           them); idempotent, also after a crash
#
#                         vtn-isp: ISP resolver (unbound, lies) .4.53, blockpage server .4.80
#                           | i-cen 198.18.4.2
#                           | c-isp 198.18.4.1
#   vtn-vantage ---------- vtn-censor ---------- vtn-net ---------- vtn-control
#   v-cen 198.18.1.2    c-van .1.1  c-net .2.1   n-cen .2.2         k-net 198.18.5.2
#   (vantage run)                                n-ctl .5.1         (vantage helper)
#                                                unbound .2.53, nginx on the site addresses
#
# Only 198.18.0.0/15, no default route anywhere, no link to the host's namespace; every
# resolver answers from its own data or forwards inside the testbed (never to the root).
# Addresses: topology.env. Needs root. VANTAGE_NETNS_PYTHON: a python with netfilterqueue.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=topology.env
. "$HERE/topology.env"
NAMESPACES=(vantage censor isp net control)
PY=${VANTAGE_NETNS_PYTHON:-python3}

nsx() { local n=$1; shift; ip netns exec "vtn-$n" "$@"; }
now_ms() { date +%s%3N; }

# veth NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair created directly inside both namespaces.
veth() {
  ip link add "$2" netns "vtn-$1" type veth peer name "$5" netns "vtn-$4"
  ip -n "vtn-$1" addr add "$3" dev "$2"
  ip -n "vtn-$4" addr add "$6" dev "$5"
  ip -n "vtn-$1" link set "$2" up
  ip -n "vtn-$4" link set "$5" up
}

topology() {
  local n a
  for n in "${NAMESPACES[@]}"; do
    ip netns add "vtn-$n"
    # IPv4 only: no IPv6 link-local chatter on our links either.
    nsx "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "vtn-$n" link set lo up
  done
  veth vantage v-cen "$VANTAGE/24" censor c-van "$CENSOR_TO_VANTAGE/24"
  veth isp i-cen "$ISP/24" censor c-isp "$CENSOR_TO_ISP/24"
  veth net n-cen "$NET/24" censor c-net "$CENSOR_TO_NET/24"
  veth control k-net "$CONTROL/24" net n-ctl "$NET_TO_CONTROL/24"
  # The sites send segments, not 64 KB GSO bursts, toward the censor: tc's shaping of a small
  # page (a few segments) is then as smooth as a real link's.
  ip -n vtn-net link set n-cen gso_max_segs 1
  for a in "$ISP_RESOLVER" "$ISP_BLOCKPAGE"; do ip -n vtn-isp addr add "$a/32" dev i-cen; done
  for a in $(sed -n 's/^\(NET_RESOLVER\|NET_NO_RESOLVER\|SITE_[A-Z_]*\|FORGED[A-Z_]*\)=//p' "$HERE/topology.env"); do
    ip -n vtn-net addr add "$a/32" dev n-cen
  done
  # Only the testbed's range is routed; there is no default route anywhere.
  ip -n vtn-vantage route add 198.18.0.0/15 via "$CENSOR_TO_VANTAGE"
  ip -n vtn-isp route add 198.18.0.0/15 via "$CENSOR_TO_ISP"
  ip -n vtn-net route add 198.18.0.0/15 via "$CENSOR_TO_NET"
  ip -n vtn-censor route add 198.18.5.0/24 via "$NET"
  ip -n vtn-control route add 198.18.0.0/15 via "$NET_TO_CONTROL"
  nsx censor sysctl -qw net.ipv4.ip_forward=1
  nsx net sysctl -qw net.ipv4.ip_forward=1
}

# A test CA for the sites, and the censor's own interception CA.
pki() {
  local d=$1/pki
  mkdir -p "$d"
  mkca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout "$d/$1.key" -out "$d/$1.pem" 2>/dev/null
  }
  mkleaf() { # mkleaf NAME CA SAN...
    local name=$1 ca=$2 san
    shift 2
    san=$(printf 'DNS:%s,' "$@")
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
      "${san%,}" >"$d/$name.ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
      -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" -CAcreateserial \
      -days 2 -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
  }
  mkca ca "Vantage Netns Test CA"
  mkca censor-ca "Censor Interception CA"
  mkleaf sites ca ok.test isp-bogon.test isp-nx.test isp-page.test inject.test blackhole.test \
    host-rst.test host-reject.test sni-rst.test residual.test residual-trigger.test \
    inject-page.test inject-redirect.test warning.or.kr mitm.test throttle.test down.test cdn.test \
    poisoned.test
  mkleaf mitm censor-ca mitm.test
  # Another company's server, where the injector's forged answers point.
  mkleaf other ca other-company.test
}

unbound_conf() { # unbound_conf DIR ADDRESS: the common part
  cat <<EOF
server:
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$1"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  do-ip6: no
  module-config: "iterator"
  qname-minimisation: no
  prefetch: no
  root-hints: ""
  interface: $2
  outgoing-interface: $2
  access-control: 198.18.0.0/15 allow
EOF
}

dns() {
  local d=$1/dns
  mkdir -p "$d"
  # The internet's authoritative server: every name of the testbed, NXDOMAIN for the rest
  # (including gone.test), never a query out.
  {
    unbound_conf "$d" "$NET_RESOLVER"
    cat <<EOF
  local-zone: "." static
  local-zone: "test." static
  local-data: "ok.test. 300 IN A $SITE_OK"
  local-data: "isp-bogon.test. 300 IN A $SITE_ISP_BOGON"
  local-data: "isp-nx.test. 300 IN A $SITE_ISP_NX"
  local-data: "isp-page.test. 300 IN A $SITE_ISP_PAGE"
  local-data: "inject.test. 300 IN A $SITE_INJECT"
  local-data: "blackhole.test. 300 IN A $SITE_BLACKHOLE"
  local-data: "host-rst.test. 300 IN A $SITE_HOST_RST"
  local-data: "host-reject.test. 300 IN A $SITE_HOST_REJECT"
  local-data: "sni-rst.test. 300 IN A $SITE_SNI_RST"
  local-data: "residual.test. 300 IN A $SITE_RESIDUAL"
  local-data: "residual-trigger.test. 300 IN A $SITE_RESIDUAL"
  local-data: "inject-page.test. 300 IN A $SITE_INJECT_PAGE"
  local-data: "inject-redirect.test. 300 IN A $SITE_INJECT_REDIRECT"
  local-data: "warning.or.kr. 300 IN A $SITE_WARNING"
  local-data: "mitm.test. 300 IN A $SITE_MITM"
  local-data: "throttle.test. 300 IN A $SITE_THROTTLE"
  local-data: "down.test. 300 IN A $SITE_DOWN"
  local-data: "cdn.test. 300 IN A $SITE_CDN_OUTSIDE"
  local-data: "poisoned.test. 300 IN A $SITE_POISONED"
  local-data: "poisoned-down.test. 300 IN A $SITE_DOWN"
  local-data: "notice-redirect.test. 300 IN A $SITE_NOTICE_REDIRECT"
  local-data: "notice.filter.test. 300 IN A $SITE_NOTICE"
  local-data: "www.geo.test. 300 IN A $SITE_GEO"
  local-data: "de.geo.test. 300 IN A $SITE_GEO"
  local-data: "throttle-small.test. 300 IN A $SITE_THROTTLE_SMALL"
  local-data: "far.test. 300 IN A $SITE_FAR"
remote-control:
  control-enable: no
EOF
  } >"$d/internet.conf"
  # The ISP's resolver: forwards to the internet (across the censor) and lies for some names.
  {
    unbound_conf "$d" "$ISP_RESOLVER"
    cat <<EOF
  local-zone: "test." nodefault
  local-zone: "isp-bogon.test." redirect
  local-data: "isp-bogon.test. 60 IN A 127.0.0.1"
  local-zone: "isp-nx.test." always_nxdomain
  local-zone: "isp-page.test." redirect
  local-data: "isp-page.test. 60 IN A $ISP_BLOCKPAGE"
  # Not a lie: the CDN's node inside the ISP, a valid certificate for the name.
  local-zone: "cdn.test." redirect
  local-data: "cdn.test. 60 IN A $SITE_CDN_INSIDE"
forward-zone:
  name: "."
  forward-addr: $NET_RESOLVER
remote-control:
  control-enable: no
EOF
  } >"$d/isp.conf"
}

nginx_head() { # nginx_head DIR
  mkdir -p "$1"/tmp
  cat <<EOF
worker_processes 1;
master_process off;
pid $1/nginx.pid;
error_log $1/error.log warn;
user root;
events { worker_connections 512; }
http {
  access_log $1/access.log;
  client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
  default_type text/html;
  charset utf-8;
EOF
}

web() {
  local d=$1/web pki=$1/pki a listen=""
  mkdir -p "$d/big"
  # The throttled site's page: 96 KiB of text.
  { printf '<html><head><title>throttle.test</title></head><body><pre>\n'
    for _ in $(seq 1536); do printf '%063d\n' 0; done
    printf '</pre></body></html>\n'; } >"$d/big/index.html"
  # The small throttled page and the far site's: 12 KiB each.
  mkdir -p "$d/small"
  { printf '<html><head><title>A small page</title></head><body><pre>\n'
    for _ in $(seq 190); do printf '%063d\n' 0; done
    printf '</pre></body></html>\n'; } >"$d/small/index.html"
  for a in "$SITE_OK" "$SITE_ISP_BOGON" "$SITE_ISP_NX" "$SITE_ISP_PAGE" "$SITE_INJECT" \
    "$SITE_BLACKHOLE" "$SITE_HOST_RST" "$SITE_HOST_REJECT" "$SITE_SNI_RST" "$SITE_RESIDUAL" \
    "$SITE_INJECT_PAGE" "$SITE_INJECT_REDIRECT" "$SITE_MITM" "$SITE_CDN_OUTSIDE" "$SITE_CDN_INSIDE" \
    "$SITE_POISONED" "$SITE_NOTICE_REDIRECT"; do
    listen+="    listen $a:80; listen $a:443 ssl;"$'\n'
  done
  # Nothing listens on SITE_DOWN: down from everywhere.
  { nginx_head "$d"
    cat <<EOF
  ssl_certificate $pki/sites.pem; ssl_certificate_key $pki/sites.key;
  server {
$listen    server_name _;
    location / { return 200 "<html><head><title>\$host</title></head><body><h1>Welcome to \$host</h1><p>The real site, served from \$server_addr.</p></body></html>\n"; }
  }
  server {
    listen $SITE_THROTTLE:80;
    server_name _;
    root $d/big;
  }
  server {
    listen $SITE_THROTTLE_SMALL:80; listen $SITE_FAR:80;
    server_name _;
    root $d/small;
  }
  # A notice page no fingerprint knows, where an injected redirect points.
  server {
    listen $SITE_NOTICE:80;
    server_name _;
    location / { return 200 "<html><head><title>Access to this resource is restricted</title></head><body><h1>Access to this resource is restricted</h1><p>The resource you requested has been restricted in accordance with a decision of the competent authority. If you believe this decision is wrong, you may contact your service provider. This notice is shown by your service provider's filtering system on behalf of the authority; it is not the page you asked for.</p></body></html>\n"; }
  }
  # A site that redirects visitors from the vantage host's region to its regional page, within
  # its own registrable domain: a geo-redirect, not censorship.
  server {
    listen $SITE_GEO:80;
    server_name www.geo.test;
    location / {
      if (\$remote_addr = $VANTAGE) { return 302 http://de.geo.test/; }
      return 200 "<html><head><title>Geo site international</title></head><body>The international page.</body></html>\n";
    }
  }
  server {
    listen $SITE_GEO:80;
    server_name de.geo.test;
    location / { return 200 "<html><head><title>Willkommen auf der deutschen Seite</title></head><body><h1>Willkommen</h1><p>Dies ist die deutsche Seite dieses Angebots, mit Nachrichten, Wetter und allem, was Besucher aus der Region interessiert; sie ist länger als die internationale Seite.</p></body></html>\n"; }
  }
  # The forged answers' address: a real server of another company, with its own valid
  # certificate (for another name), as the Great Firewall's poison addresses are.
  server {
    listen $FORGED:80; listen $FORGED:443 ssl;
    server_name _;
    ssl_certificate $pki/other.pem; ssl_certificate_key $pki/other.key;
    location / { return 200 "<html><head><title>Another company</title></head><body>Someone else's site.</body></html>\n"; }
  }
  server {
    listen $SITE_WARNING:80;
    server_name _;
    location / { return 200 "<html><head><title>warning.or.kr</title></head><body>This site has been blocked by the Korea Communications Standards Commission.</body></html>\n"; }
  }
}
EOF
  } >"$d/nginx.conf"

  # The ISP's blockpage server, where its resolver sends blocked names.
  mkdir -p "$1/isp-web/page"
  cp "$HERE/blockpage-ru.html" "$1/isp-web/page/index.html"
  { nginx_head "$1/isp-web"
    cat <<EOF
  server {
    listen $ISP_BLOCKPAGE:80;
    server_name _;
    root $1/isp-web/page;
    location / { try_files /index.html =404; }
  }
}
EOF
  } >"$1/isp-web/nginx.conf"

  # The censor's TLS interception proxy (traffic to SITE_MITM:443 is redirected to it).
  mkdir -p "$1/mitm"
  { nginx_head "$1/mitm"
    cat <<EOF
  server {
    listen 8443 ssl;
    server_name _;
    ssl_certificate $pki/mitm.pem; ssl_certificate_key $pki/mitm.key;
    location / { return 200 "<html><head><title>\$host</title></head><body>Intercepted.</body></html>\n"; }
  }
}
EOF
  } >"$1/mitm/nginx.conf"
}

# The censor's rules. Each behaviour on its own names and addresses.
censor_rules() {
  local mark=0x52
  # IP blackholing, residual blocking (the set) and TLS interception (redirect to the proxy).
  nsx censor nft -f - <<EOF
table inet vtn_censor {
  set residual { type ipv4_addr . ipv4_addr . inet_service; flags timeout; }
  chain forward {
    type filter hook forward priority 10; policy accept;
    ip daddr $SITE_BLACKHOLE drop
    ip saddr . ip daddr . tcp dport @residual reject with tcp reset
    meta mark $mark add @residual { ip saddr . ip daddr . tcp dport timeout 30s } reject with tcp reset
  }
}
table ip vtn_nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "c-van" ip daddr $SITE_MITM tcp dport 443 redirect to :8443
  }
}
EOF
  # nftables has no substring match here: keywords are matched by iptables' xt_string.
  local q=(-j NFQUEUE --queue-num 0 --queue-bypass) http=(-i c-van -o c-net -p tcp --dport 80 -m string --algo bm --icase)
  # On-path DNS injection: every UDP query crossing the border goes past the injector.
  nsx censor iptables -A FORWARD -o c-net -p udp --dport 53 "${q[@]}"
  # RST to both ends on a Host keyword and on a TLS SNI; an injected blockpage and redirect.
  nsx censor iptables -A FORWARD "${http[@]}" --string "Host: host-rst.test" "${q[@]}"
  nsx censor iptables -A FORWARD "${http[@]}" --string "Host: inject-page.test" "${q[@]}"
  nsx censor iptables -A FORWARD "${http[@]}" --string "Host: inject-redirect.test" "${q[@]}"
  nsx censor iptables -A FORWARD -i c-van -o c-net -p tcp --dport 443 -m string --algo bm \
    --string "sni-rst.test" "${q[@]}"
  # RST to the client only (the kernel's reject), on a Host keyword.
  nsx censor iptables -A FORWARD "${http[@]}" --string "Host: host-reject.test" -j REJECT --reject-with tcp-reset
  # Residual blocking: the trigger marks the packet; the nft chain resets it and blocks the
  # (client, server, port) tuple for 30 s.
  nsx censor iptables -t mangle -A FORWARD "${http[@]}" --string "Host: residual-trigger.test" -j MARK --set-mark $mark
  # Throttling of one address: ~8 KB/s toward the vantage host.
  nsx censor tc qdisc add dev c-van root handle 1: htb default 20
  nsx censor tc class add dev c-van parent 1: classid 1:20 htb rate 10gbit quantum 60000
  nsx censor tc class add dev c-van parent 1: classid 1:10 htb rate 64kbit ceil 64kbit burst 2k cburst 2k quantum 1514
  nsx censor tc filter add dev c-van parent 1: protocol ip prio 1 u32 match ip src "$SITE_THROTTLE/32" flowid 1:10
  # A small page throttled to ~3 KB/s, and a far site: the same rate over a 700 ms link (the
  # injector holds every packet toward the vantage host 700 ms, the SYN-ACK too; this kernel
  # may lack netem), a slow link, not throttling.
  nsx censor tc class add dev c-van parent 1: classid 1:30 htb rate 24kbit ceil 24kbit burst 2k cburst 2k quantum 1514
  nsx censor tc filter add dev c-van parent 1: protocol ip prio 1 u32 match ip src "$SITE_THROTTLE_SMALL/32" flowid 1:30
  nsx censor tc class add dev c-van parent 1: classid 1:40 htb rate 24kbit ceil 24kbit burst 2k cburst 2k quantum 1514
  nsx censor tc filter add dev c-van parent 1: protocol ip prio 1 u32 match ip src "$SITE_FAR/32" flowid 1:40
  nsx censor iptables -A FORWARD -s "$SITE_FAR" -o c-van -p tcp "${q[@]}"
  # An injected redirect to a notice page no fingerprint knows.
  nsx censor iptables -A FORWARD "${http[@]}" --string "Host: notice-redirect.test" "${q[@]}"
  # The internet side: the address that runs no resolver drops DNS.
  nsx net nft -f - <<EOF
table inet vtn_net {
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr $NET_NO_RESOLVER meta l4proto { tcp, udp } th dport 53 drop
    ip daddr $FORGED_DEAD meta l4proto tcp drop
  }
}
EOF
}

start() { # start LOG NS CMD...: a server, as a child of this shell
  local log=$1 n=$2
  shift 2
  ip netns exec "vtn-$n" "$@" </dev/null >"$log" 2>&1 &
}

servers() {
  local d=$1
  start "$d/logs/unbound-internet.log" net unbound -d -c "$d/dns/internet.conf"
  start "$d/logs/unbound-isp.log" isp unbound -d -c "$d/dns/isp.conf"
  start "$d/logs/nginx-internet.log" net nginx -e "$d/web/error.log" -p "$d/web" -c "$d/web/nginx.conf" -g "daemon off;"
  start "$d/logs/nginx-isp.log" isp nginx -e "$d/isp-web/error.log" -p "$d/isp-web" -c "$d/isp-web/nginx.conf" -g "daemon off;"
  start "$d/logs/nginx-mitm.log" censor nginx -e "$d/mitm/error.log" -p "$d/mitm" -c "$d/mitm/nginx.conf" -g "daemon off;"
  start "$d/logs/censor.log" censor "$PY" -u "$HERE/censor.py" --queue 0 --hold-ms 50 \
    --dns "inject.test=$FORGED" --dns "poisoned.test=$FORGED_DEAD" --dns "poisoned-down.test=$FORGED_DEAD" --rst "Host: host-rst.test" --rst "sni-rst.test" \
    --page "Host: inject-page.test=$HERE/blockpage-tr.html" \
    --redirect "Host: inject-redirect.test=http://warning.or.kr/i1.html" \
    --redirect "Host: notice-redirect.test=http://notice.filter.test/blocked.html" \
    --delay "$SITE_FAR=700"
}

listening() { # listening NS PROTO FILTER
  nsx "$1" ss -Hln"$2" "$3" | grep -q .
}

wait_ready() {
  local d=$1 i
  for i in $(seq 200); do
    if listening net u "src $NET_RESOLVER:53" && listening isp u "src $ISP_RESOLVER:53" &&
      listening net t "src $SITE_OK:443" && listening net t "src $SITE_THROTTLE:80" &&
      listening isp t "src $ISP_BLOCKPAGE:80" && listening censor t "sport = :8443" &&
      grep -q ' ready$' "$d/logs/censor.log"; then
      return 0
    fi
    if [ "$(jobs -rp | wc -l)" -lt 6 ]; then
      echo "a server died while starting; logs in $d/logs:" >&2
      tail -n 5 "$d"/logs/*.log >&2
      return 1
    fi
    sleep 0.05
  done
  echo "servers not ready after 10 s; logs in $d/logs" >&2
  tail -n 5 "$d"/logs/*.log >&2
  return 1
}

ours() { ip netns list 2>/dev/null | awk '$1 ~ /^vtn-/ {print $1}'; }

down() {
  local n p i left
  for n in $(ours); do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  for i in $(seq 100); do
    left=
    for n in $(ours); do [ -n "$(ip netns pids "$n" 2>/dev/null)" ] && left=1; done
    [ -z "$left" ] && break
    sleep 0.02
  done
  for n in $(ours); do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  done
  # Reap the servers this shell started (an orphan would wait for PID 1 to reap it).
  wait 2>/dev/null || true
  # Deleting a namespace deletes its veth ends, and with them their peers (veths are created
  # inside our namespaces, never in the caller's).
  for n in $(ours); do ip netns del "$n" 2>/dev/null || true; done
  [ -z "$(ours)" ]
}

serve() {
  local d=$1 t0
  [ -n "$d" ] || { echo "usage: $0 serve DIR" >&2; exit 2; }
  t0=$(now_ms)
  down
  mkdir -p "$d/logs"
  trap 'down' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  topology
  pki "$d"
  dns "$d"
  web "$d"
  censor_rules
  servers "$d"
  wait_ready "$d"
  echo "ready $(($(now_ms) - t0)) ms"
  read -r _ || true
}

case "${1:-}" in
  serve) serve "${2:-}" ;;
  down) down ;;
  *) echo "usage: $0 serve DIR | down" >&2; exit 2 ;;
esac
