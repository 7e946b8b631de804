#!/usr/bin/env bash
# Speed benchmark: `vantage run` against `curl --parallel` over the same 2,000 HTTPS sites, all on
# loopback.
#
# Sets up, in a temp dir removed on exit:
#   - a test CA and one wildcard certificate for *.bench.test (openssl);
#   - nginx on 127.0.0.1:18443 with 2,000 virtual hosts site0001.bench.test ... site2000.bench.test,
#     each its own server block serving a 5 KB page (HTTP/1.1: no h2, so both clients speak the same);
#   - dnsmasq on 127.0.0.1:15353 answering 127.0.0.1 for every *.bench.test name (and an empty
#     NOERROR answer to AAAA queries, so nothing waits for a timeout).
# Then measures, each under GNU time (wall time, user+sys CPU, peak RSS), 64 in flight:
#   1. curl --parallel --parallel-max 64 over the 2,000 URLs (--connect-to, so curl asks no DNS);
#   2. vantage run with its defaults (--dns-wait 500ms);
#   3. vantage run --dns-wait 0ms.
# vantage keeps each lookup's UDP socket open for --dns-wait (500 ms by default) after the first
# DNS answers, to record the duplicate answers the Great Firewall injects. The fetch does not wait
# for it (the target's --parallel slot is freed when the fetch ends), but its record is written
# only afterwards: so the default run holds up to 4 x 64 targets open at once (more memory) and
# ends about 0.5 s later. That is listening, not work; the --dns-wait 0ms run is the like-for-like
# comparison with curl. Both are printed.
#
# Goal (the issue): vantage at least as many URLs/s as curl and no more CPU per URL.
#
# Only loopback is used. Installs nginx, dnsmasq-base, openssl, curl and time from Debian if missing.
# Environment: BENCH_SITES (default 2000), BENCH_PORT (18443), BENCH_DNS_PORT (15353),
# VANTAGE_BIN (default: target/release/vantage, built with cargo build --release).
# A copy of the report and GNU time's raw output go to bench/out/<timestamp>/.

set -euo pipefail

N=${BENCH_SITES:-2000}
PORT=${BENCH_PORT:-18443}
DNS_PORT=${BENCH_DNS_PORT:-15353}
PARALLEL=64
MIN_OK=$(( N - N / 200 ))   # 1990 of 2000: a benchmark whose fetches failed is meaningless

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER=(python3 "$HERE/helper.py")

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] FAILED: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
TIME=/usr/bin/time
need=()
[[ -x $NGINX ]] || need+=(nginx)
[[ -x $DNSMASQ ]] || need+=(dnsmasq-base)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
[[ -x $TIME ]] || need+=(time)
command -v python3 >/dev/null || need+=(python3-minimal)
if ((${#need[@]})); then
    log "installing: ${need[*]}"
    [[ $(id -u) == 0 ]] && SUDO=() || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    # Keep package scripts from starting system services (nginx on port 80) while installing.
    policy_added=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    "${SUDO[@]}" apt-get update -qq
    pkgs=("${need[@]/#nginx/nginx-light}")
    if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
        pkgs=("${need[@]/#dnsmasq-base/dnsmasq}")
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    ((policy_added)) && "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
fi
[[ -x $NGINX && -x $DNSMASQ && -x $TIME ]] || die "nginx, dnsmasq or GNU time still missing"

# ---------------------------------------------------------------------------------------------
# Teardown: every process this script starts is tracked by pid and ended here.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vantage-bench.XXXXXX")
NGINX_PID=""
DNSMASQ_PID=""
CHILD_PID=""
stop_pid() { # pid
    local pid=$1 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $CHILD_PID ]]; then
        # GNU time's child (curl or vantage) first: killing time alone would orphan it.
        local c
        for c in $(pgrep -P "$CHILD_PID" 2>/dev/null || true); do stop_pid "$c"; done
        stop_pid "$CHILD_PID"
    fi
    if [[ -n $NGINX_PID ]]; then
        local workers
        workers=$(pgrep -P "$NGINX_PID" 2>/dev/null || true)
        stop_pid "$NGINX_PID"
        for w in $workers; do kill -KILL "$w" 2>/dev/null || true; done
    fi
    stop_pid "$DNSMASQ_PID"
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# vantage binary
if [[ -n ${VANTAGE_BIN:-} ]]; then
    VANTAGE=$VANTAGE_BIN
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    VANTAGE=$ROOT/target/release/vantage
fi
[[ -x $VANTAGE ]] || die "no vantage binary at $VANTAGE"

"${HELPER[@]}" portfree TCP "$PORT" || die "port $PORT is in use (set BENCH_PORT)"
"${HELPER[@]}" portfree UDP "$DNS_PORT" || die "port $DNS_PORT is in use (set BENCH_DNS_PORT)"

# ---------------------------------------------------------------------------------------------
# Test PKI: a CA, and one wildcard leaf for *.bench.test signed by it (ECDSA P-256).
log "test CA and *.bench.test certificate"
mkdir -p "$TMP/pki"
(
    cd "$TMP/pki"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=vantage bench test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out leaf.key 2>/dev/null
    openssl req -new -key leaf.key -subj "/CN=*.bench.test" -out leaf.csr 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:*.bench.test" > leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 2 \
        -extfile leaf.ext -out leaf.pem 2>/dev/null
    cat leaf.pem ca.pem > chain.pem
)
CA=$TMP/pki/ca.pem

# ---------------------------------------------------------------------------------------------
# nginx: N virtual hosts, 5 KB page each.
log "generating $N sites"
mkdir -p "$TMP/nginx/tmp"
"${HELPER[@]}" gen "$TMP/nginx" "$N" "$PORT"
user_line=""
[[ $(id -u) == 0 ]] && user_line="user $(id -un) $(id -gn);"
temp_paths="client_body_temp_path $TMP/nginx/tmp/body;"
nginx_v=$("$NGINX" -V 2>&1)
for m in proxy fastcgi uwsgi scgi; do
    [[ $nginx_v == *"--without-http_${m}_module"* ]] || temp_paths+=" ${m}_temp_path $TMP/nginx/tmp/$m;"
done
cat > "$TMP/nginx/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes auto;
worker_rlimit_nofile 8192;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    $temp_paths
    types { text/html html; }
    default_type text/html;
    sendfile on;
    server_names_hash_max_size 8192;
    server_names_hash_bucket_size 64;
    ssl_certificate $TMP/pki/chain.pem;
    ssl_certificate_key $TMP/pki/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 127.0.0.1:$PORT ssl default_server; server_name _; return 421; }
    include $TMP/nginx/sites.conf;
}
EOF
"$NGINX" -t -q -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    || die "nginx -t rejected the config"
log "starting nginx on 127.0.0.1:$PORT"
"$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!

# ---------------------------------------------------------------------------------------------
# dnsmasq: every *.bench.test name is 127.0.0.1; AAAA gets an empty NOERROR answer (since dnsmasq
# 2.86 --address alone forwards other types, which with --no-resolv answers REFUSED: --local fixes it).
log "starting dnsmasq on 127.0.0.1:$DNS_PORT"
"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
    --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
    --address=/bench.test/127.0.0.1 --local=/bench.test/ --cache-size=0 --pid-file="$TMP/dnsmasq.pid" \
    --user="$(id -un)" --group="$(id -gn)" --log-facility="$TMP/dnsmasq.log" &
DNSMASQ_PID=$!

# ---------------------------------------------------------------------------------------------
# Wait until both answer.
first=https://site0001.bench.test:$PORT/
for i in $(seq 100); do
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/error.log" >&2; die "nginx exited"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CA" \
        --connect-to "::127.0.0.1:$PORT" "$first" || true)
    [[ $code == 200 ]] && break
    ((i < 100)) || die "nginx not serving $first after 10 s (last code $code)"
    sleep 0.1
done
for i in $(seq 50); do
    kill -0 "$DNSMASQ_PID" 2>/dev/null || { cat "$TMP/dnsmasq.log" >&2; die "dnsmasq exited"; }
    "${HELPER[@]}" dns "$DNS_PORT" "site$(printf %04d "$N").bench.test" >&2 && break
    ((i < 50)) || die "dnsmasq does not answer as expected on 127.0.0.1:$DNS_PORT"
    sleep 0.2
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
server_cpu() { "${HELPER[@]}" cputicks "$NGINX_PID" $(pgrep -P "$NGINX_PID") "$DNSMASQ_PID"; }

# Runs "$@" under GNU time -v into $1 (time file); the command runs in the background so that an
# interrupt reaches the trap at once.
timed() { # time_file command...
    local tf=$1 rc=0
    shift
    "$TIME" -v -o "$tf" "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return "$rc"
}

RESULTS=$TMP/results.json
echo "[" > "$RESULTS"
add_result() { # tool time_file ok server_cpu
    [[ $(wc -l < "$RESULTS") -gt 1 ]] && echo "," >> "$RESULTS"
    printf '{"tool": "%s", "urls": %d, "time_file": "%s", "ok": %d, "server_cpu": %s}\n' \
        "$1" "$N" "$2" "$3" "$4" >> "$RESULTS"
}

# ---------------------------------------------------------------------------------------------
# curl
log "curl --parallel --parallel-max $PARALLEL over $N URLs"
cpu0=$(server_cpu)
rc=0
timed "$TMP/time-curl.txt" curl --parallel --parallel-max "$PARALLEL" -s -S --cacert "$CA" \
    --connect-to "::127.0.0.1:$PORT" -w '%{http_code}\n' -K "$TMP/nginx/curl.cfg" \
    > "$TMP/curl-codes.txt" 2> "$TMP/curl-stderr.txt" || rc=$?
cpu1=$(server_cpu)
((rc == 0)) || log "curl exited $rc: $(head -c 2000 "$TMP/curl-stderr.txt")"
curl_check=$("${HELPER[@]}" check-curl "$TMP/curl-codes.txt" "$N" "$MIN_OK") \
    || die "curl: fewer than $MIN_OK of $N fetches returned 200 ($curl_check)"
curl_ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$curl_check")
add_result "curl --parallel-max $PARALLEL" "$TMP/time-curl.txt" "$curl_ok" \
    "$(python3 -c "print(round($cpu1 - $cpu0, 2))")"

# ---------------------------------------------------------------------------------------------
# vantage, twice
run_vantage() { # label name extra-args...
    local label=$1 name=$2 rc=0 check ok
    shift 2
    local out=$TMP/vantage-$name
    mkdir -p "$out"
    log "vantage run $label over $N URLs"
    cpu0=$(server_cpu)
    timed "$TMP/time-$name.txt" "$VANTAGE" run --targets "$TMP/nginx/urls.txt" --out "$out" \
        --resolver "127.0.0.1:$DNS_PORT" --ca-file "$CA" --parallel "$PARALLEL" --rate 0 \
        --timeout 10s "$@" > "$TMP/$name-stdout.txt" 2> "$TMP/$name-stderr.txt" || rc=$?
    cpu1=$(server_cpu)
    sed 's/^/  /' "$TMP/$name-stdout.txt" >&2
    if ((rc != 0)); then
        head -c 4000 "$TMP/$name-stderr.txt" >&2
        die "vantage ($label) exited $rc"
    fi
    check=$("${HELPER[@]}" check-vantage "$out" "$N" "$MIN_OK") \
        || { head -c 4000 "$TMP/$name-stderr.txt" >&2
             die "vantage ($label): want $N records and at least $MIN_OK with a 200 ($check)"; }
    ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$check")
    add_result "vantage $label" "$TMP/time-$name.txt" "$ok" \
        "$(python3 -c "print(round($cpu1 - $cpu0, 2))")"
}
run_vantage "(default, dns-wait 500ms)" default
run_vantage "--dns-wait 0ms" dnswait0 --dns-wait 0ms
echo "]" >> "$RESULTS"

# ---------------------------------------------------------------------------------------------
# Report
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
KEEP=$HERE/out/$STAMP
mkdir -p "$KEEP"
{
    echo
    echo "vantage vs curl: $N HTTPS sites on loopback (nginx, 5 KB page, TLS with a test CA), $PARALLEL in flight"
    echo "machine: nproc $(nproc), load average before the runs $LOAD; $(curl --version | head -1 | cut -d' ' -f1-2); nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'); vantage $("$VANTAGE" --version | cut -d' ' -f2)"
    echo "CPU = user+sys of the client process (GNU time); server CPU = nginx + dnsmasq during that run."
    echo "vantage also resolves every name (A and AAAA) through dnsmasq; curl asks no DNS (--connect-to)."
    echo "default vantage keeps each DNS socket open 500 ms after the answers, for duplicates injected"
    echo "by the GFW: the fetch goes on meanwhile; up to 4 x --parallel targets may be listening at once,"
    echo "which caps the default run at ~512 URLs/s on loopback. The --dns-wait 0ms run is the like-for-like one."
    echo
    "${HELPER[@]}" report "$RESULTS"
} | tee "$KEEP/report.txt"
cp "$TMP"/time-*.txt "$KEEP/"
log "report and GNU time output kept in ${KEEP#"$ROOT"/}"
