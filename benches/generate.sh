#!/usr/bin/env bash
# Benchmark: the sample lake generator at scale, and the weekly report on the lake it writes.
#
#   bash benches/generate.sh [CUSTOMERS]        (default 1000000: about 20M orders, 3M tickets)
#
# Builds the release binary, then reports wall time, CPU time and peak resident memory (GNU time)
# for `pareto generate`, the lake's size and row counts, and the same for a dry run of the bundled
# weekly-leadership job on that lake. Speed lives here, never in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked --quiet
bin=target/release/pareto

measure() { # label, command...
    local label=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || { cat "$work/err"; exit 1; }
    read -r wall user sys rss < "$work/time"
    printf '%-10s wall %7.1f s   cpu %7.1f s   peak memory %6.0f MiB\n' "$label" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)"
}

echo "pareto generate --customers $n ($(nproc) cores)"
measure generate "$bin" generate --out "$work/lake" --customers "$n" --seed 42 --until 2026-11-23
cat "$work/out"
du -sh "$work/lake" | awk '{print "lake size: " $1}'

measure report env PARETO_LAKE="$work/lake" PARETO_ARCHIVE="$work/archive" \
    "$bin" run weekly-leadership --as-of 2026-11-23 --dry-run
head -1 "$work/out"
