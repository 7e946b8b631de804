#!/usr/bin/env bash
# Hostile-network benchmark: peak RSS and record size of `vantage run --parallel 64` against a
# resolver that floods every query (64 datagrams of ~4,000 answers, ~64 KB each) behind a site
# that redirects every hop to a fresh name (10 redirects: 11 lookups per target). Loopback only.
#
# For each target count in BENCH_TARGETS (default "64 200"), starts examples/hostile.rs (one
# thread) on 127.0.0.1, runs the release binary under GNU time, and prints: records written, peak
# RSS, wall time, CPU, the largest record line, and the DNS totals the records' x_dns_truncated
# summaries counted (datagrams received, dropped, answers and raw bytes not stored). A flat peak
# RSS across target counts means memory does not grow with what the network sends.
#
# Environment: BENCH_TARGETS ("64 200"), BENCH_DATAGRAMS (64), BENCH_ANSWERS (4000),
# BENCH_PACE_US (1000: pause between two datagrams of one query), BENCH_PARALLEL (64),
# VANTAGE_BIN (default target/release/vantage, built here), HOSTILE_BIN (default
# target/release/examples/hostile, built here). Needs python3 and GNU time (/usr/bin/time).

set -euo pipefail

TARGETS=${BENCH_TARGETS:-"64 200"}
DATAGRAMS=${BENCH_DATAGRAMS:-64}
ANSWERS=${BENCH_ANSWERS:-4000}
PACE_US=${BENCH_PACE_US:-1000}
PARALLEL=${BENCH_PARALLEL:-64}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TIME=/usr/bin/time

log() { printf '[hostile] %s\n' "$*" >&2; }
die() { printf '[hostile] FAILED: %s\n' "$*" >&2; exit 1; }
[[ -x $TIME ]] || die "GNU time (/usr/bin/time) is missing: apt-get install time"
command -v python3 >/dev/null || die "python3 is missing"

if [[ -z ${VANTAGE_BIN:-} || -z ${HOSTILE_BIN:-} ]]; then
    log "cargo build --release (vantage, examples/hostile)"
    (cd "$ROOT" && cargo build --release --quiet --bin vantage --example hostile) \
        || die "cargo build --release failed"
fi
VANTAGE=${VANTAGE_BIN:-$ROOT/target/release/vantage}
HOSTILE=${HOSTILE_BIN:-$ROOT/target/release/examples/hostile}
[[ -x $VANTAGE && -x $HOSTILE ]] || die "missing $VANTAGE or $HOSTILE"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vantage-hostile.XXXXXX")
SERVER_PID=""
CHILD_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $CHILD_PID ]] && kill -TERM "$CHILD_PID" 2>/dev/null || true
    [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sums over every record under DIR: count, largest line, and the x_dns_truncated totals.
summarize() { # dir
    python3 - "$1" <<'PY'
import json, os, sys
n = biggest = 0
tot = dict(datagrams_received=0, datagrams_dropped=0, bytes_dropped=0, answers_dropped=0,
           raw_bytes_dropped=0)
shed = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith(".jsonl"):
            continue
        with open(os.path.join(root, f), "rb") as fh:
            for line in fh:
                n += 1
                biggest = max(biggest, len(line))
                tk = json.loads(line)["test_keys"]
                shed += "x_truncated" in tk
                for s in tk.get("x_dns_truncated", []):
                    for k in tot:
                        tot[k] += s[k]
print(json.dumps(dict(records=n, max_record_bytes=biggest, records_capped=shed, **tot)))
PY
}

printf '%-8s %-8s %-12s %-9s %-9s %-16s %s\n' targets records "peak RSS" wall cpu "max record" \
    "DNS datagrams received / dropped, answers / raw bytes not stored"
for N in $TARGETS; do
    dir=$TMP/run-$N
    mkdir -p "$dir/out"
    "$HOSTILE" "$dir/targets.txt" "$N" "$DATAGRAMS" "$ANSWERS" "$PACE_US" > "$dir/server.txt" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q '^resolver ' "$dir/server.txt" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "the hostile servers exited"
        sleep 0.1
    done
    resolver=$(sed -n 's/^resolver //p' "$dir/server.txt")
    [[ -n $resolver ]] || die "the hostile servers printed no address"
    log "$N targets, resolver $resolver, --parallel $PARALLEL"
    rc=0
    "$TIME" -v -o "$dir/time.txt" "$VANTAGE" run --targets "$dir/targets.txt" --out "$dir/out" \
        --resolver "$resolver" --parallel "$PARALLEL" --rate 0 --timeout 60s \
        > "$dir/stdout.txt" 2> "$dir/stderr.txt" &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    ((rc == 0)) || { tail -c 2000 "$dir/stderr.txt" >&2; die "vantage exited $rc"; }
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/time.txt")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$dir/time.txt")
    user=$(sed -n 's/.*User time (seconds): //p' "$dir/time.txt")
    sys=$(sed -n 's/.*System time (seconds): //p' "$dir/time.txt")
    s=$(summarize "$dir/out")
    python3 - "$N" "$rss" "$wall" "$user" "$sys" "$s" <<'PY'
import json, sys
n, rss, wall, user, sys_, s = sys.argv[1:]
s = json.loads(s)
print(f"{n:<8} {s['records']:<8} {int(rss)/1024:>7.1f} MiB  {wall:<9} {float(user)+float(sys_):>6.1f} s  "
      f"{s['max_record_bytes']/1024:>9.1f} KiB     {s['datagrams_received']} / {s['datagrams_dropped']}, "
      f"{s['answers_dropped']} / {s['raw_bytes_dropped']}"
      + (f"  ({s['records_capped']} records hit the 4 MiB cap)" if s['records_capped'] else ""))
if s["records"] != int(n):
    sys.exit(f"want {n} records, got {s['records']}")
PY
done
