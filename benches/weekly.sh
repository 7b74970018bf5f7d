#!/usr/bin/env bash
# Benchmark: the bundled weekly job against DuckDB on the same figures, at 100k, 300k and 1M
# customers (or the sizes given). Installs DuckDB (PyPI) when missing, builds the release binary,
# and runs benches/weekly.py, which generates the lakes (kept in target/bench-lakes), checks that
# both sides agree, and prints the table that is in the README.
#
#   bash benches/weekly.sh [CUSTOMERS ...] [--memory-limit 1GiB]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import duckdb' >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1,<3' \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'duckdb>=1.1,<3'
fi
cargo build --release --locked --quiet
exec python3 benches/weekly.py "$@"
