#!/usr/bin/env bash
# Mutation testing of the verdict code: cargo-mutants (27) with .cargo/mutants.toml (scope:
# src/analysis/, src/bogon.rs, src/failure.rs, src/fingerprints.rs; tests: those modules' unit
# tests, without the property test; equivalent mutants excluded there, each with its reason).
#
# NOT part of CI (.ci/run): a whole run is some 800 mutants at 5-15 s each, one to three hours on
# two cores. Prints caught / missed / unviable / timeouts per file and in all; every mutant that
# is not listed as equivalent must be caught.
#
# Usage: bench/mutants.sh [FILE-REGEX]    e.g. bench/mutants.sh 'src/analysis/verdict/'
#   MUTANTS_OUT   where mutants.out goes (default bench/out/mutants); a rerun there with
#                 MUTANTS_ITERATE=1 tests only what the last run did not catch (--iterate).
#   MUTANTS_JOBS  parallel builds (default 1: each build uses every core already).
# cargo-mutants builds a copy of the tree; its target directory is kept in target/mutants so
# the dependencies are built once, not once a run (profile "mutants": no debug info, faster links).

set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${MUTANTS_OUT:-bench/out/mutants}
JOBS=${MUTANTS_JOBS:-1}
mkdir -p "$OUT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/mutants}

args=(--jobs "$JOBS" --output "$OUT")
if [[ $# -gt 0 ]]; then
    args+=(--re "^($1)")
fi
if [[ -n ${MUTANTS_ITERATE:-} ]]; then
    args+=(--iterate)
fi

# cargo-mutants exits non-zero when a mutant survives; the summary is printed either way.
status=0
cargo mutants "${args[@]}" || status=$?

python3 - "$OUT/mutants.out/outcomes.json" <<'PY'
import collections, json, sys

data = json.load(open(sys.argv[1]))
per = collections.defaultdict(collections.Counter)
names = {"CaughtMutant": "caught", "MissedMutant": "missed", "Unviable": "unviable",
         "Timeout": "timeouts"}
for o in data["outcomes"]:
    scen = o["scenario"]
    if not isinstance(scen, dict) or "Mutant" not in scen:
        continue
    f = scen["Mutant"]["file"]
    per[f][names.get(o["summary"], o["summary"])] += 1
cols = ["caught", "missed", "unviable", "timeouts"]
total = collections.Counter()
print(f"{'file':44} " + " ".join(f"{c:>8}" for c in cols))
for f in sorted(per):
    total.update(per[f])
    print(f"{f:44} " + " ".join(f"{per[f][c]:>8}" for c in cols))
print(f"{'all':44} " + " ".join(f"{total[c]:>8}" for c in cols))
PY
exit "$status"
