#!/usr/bin/env bash
# Reruns the benchmark matrix of docs/benchmarks.md with one command and prints one table.
#
#   bash scripts/bench.sh [OUT_DIR]      (default OUT_DIR: ./bench-out)
#
# Builds the release binaries the way scripts/dev.sh does (same persistent CARGO_TARGET_DIR),
# then runs `tally benchmark` for each row below (1, 3 and 5 nodes; batched and one transfer
# per request; uniform, zipfian and hot accounts; 10,000 concurrent connections closed and open
# loop; 10,000 one-transfer callers batched by the SDK) and the ledger's apply matrix. Each row's JSON report goes to OUT_DIR; the summary table
# (markdown) goes to stdout and OUT_DIR/summary.md. Every cluster is temporary, on 127.0.0.1.
# It takes about 10 minutes on two cores. Run it on a quiet machine: the figures are only as
# steady as the machine (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-out}"
mkdir -p "$out"

if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="${HOME:-/tmp}/.cache/tally-target"
fi
bash scripts/dev.sh build >&2
tally="$CARGO_TARGET_DIR/release/tally"
apply="$CARGO_TARGET_DIR/release/apply"

# name | arguments of `tally benchmark`
rows=(
    "1 node|"
    "1 node, 2 clients|--clients 2"
    "1 node, hot accounts|--distribution hot"
    "1 node, zipfian|--distribution zipfian"
    "1 node, 20% pending with timeouts|--pending-share 0.2"
    "3 nodes|--nodes 3"
    "3 nodes, 2M transfers|--nodes 3 --transfers 2000000"
    "3 nodes, 2 clients|--nodes 3 --clients 2"
    "3 nodes, hot accounts|--nodes 3 --distribution hot"
    "5 nodes|--nodes 5"
    "1 transfer per request, 1 client|--single --transfers 20000"
    "1 transfer per request, 1,000 clients, 10 connections|--single --clients 1000 --connections 10 --transfers 200000"
    "1 transfer per request, 10,000 clients, 10,000 connections|--single --clients 10000 --connections 10000 --transfers 200000"
    "same, open loop at 10,000/s|--single --clients 10000 --connections 10000 --rate 10000 --transfers 100000"
    "1 transfer per call, 10,000 clients, batched by the SDK on 1 connection|--sdk-batching --clients 10000"
)

n=0
for row in "${rows[@]}"; do
    name="${row%%|*}"
    args="${row#*|}"
    n=$((n + 1))
    echo "bench.sh: [$n/${#rows[@]}] $name: tally benchmark $args" >&2
    # shellcheck disable=SC2086 # the arguments are meant to split
    "$tally" benchmark $args --json > "$out/$n.json"
    printf '%s\t%s\n' "$name" "$args" > "$out/$n.name"
done

echo "bench.sh: apply matrix" >&2
"$apply" --transfers 1000000 > "$out/apply.txt"

python3 - "$out" "${#rows[@]}" <<'PY' | tee "$out/summary.md"
import json, sys
out, rows = sys.argv[1], int(sys.argv[2])
print("| run | command | transfers/s | latency p50 / p99 | query under load p50 / p99 |")
print("|---|---|---:|---|---|")
for n in range(1, rows + 1):
    name, args = open(f"{out}/{n}.name").read().rstrip("\n").split("\t")
    r = json.load(open(f"{out}/{n}.json"))
    load, lat = r["load"], r["load"]["request_latency"]
    q = r.get("queries_under_load") or {}
    ql = f"{q['p50_ms']:.2f} / {q['p99_ms']:.2f} ms" if q.get("count") else "-"
    cmd = f"`tally benchmark {args}`".replace(" `", "`")
    print(f"| {name} | {cmd} | {load['transfers_per_sec']:,.0f} | "
          f"{lat['p50_ms']:.1f} / {lat['p99_ms']:.1f} ms | {ql} |")
print()
print("Apply matrix (`apply --transfers 1000000`):")
print()
print("```")
print(open(f"{out}/apply.txt").read().rstrip())
print("```")
PY
