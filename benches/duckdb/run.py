"""Run benches/duckdb/weekly.sql on a lake with DuckDB and write its bench_* tables as Parquet.

    python3 benches/duckdb/run.py LAKE OUT_DIR THREADS PERIOD_START PERIOD_END PREV_PERIOD_START \\
        PERIOD_START_DATE PERIOD_END_DATE PREV_PERIOD_START_DATE PERIOD_MONTHS

Run as its own process by benches/weekly.py, so that its time and peak memory are DuckDB's alone.
"""
import os
import sys

import duckdb

lake, out, threads, ps, pe, pps, psd, ped, ppsd, months = sys.argv[1:11]
con = duckdb.connect()
con.execute(f"SET threads = {int(threads)}")
con.execute("SET preserve_insertion_order = false")
variables = {
    "lake": f"'{lake}'",
    "period_start": f"TIMESTAMPTZ '{ps}'",
    "period_end": f"TIMESTAMPTZ '{pe}'",
    "prev_period_start": f"TIMESTAMPTZ '{pps}'",
    "period_start_date": f"DATE '{psd}'",
    "period_end_date": f"DATE '{ped}'",
    "prev_period_start_date": f"DATE '{ppsd}'",
    "period_months": f"{float(months)}::DOUBLE",
    "size_smb": "10",
    "size_mid": "100",
    "size_enterprise": "1000",
}
for name, value in variables.items():
    con.execute(f"SET VARIABLE {name} = {value}")
sql = open(os.path.join(os.path.dirname(__file__), "weekly.sql")).read()
con.execute(sql)
os.makedirs(out, exist_ok=True)
for table in ["headline", "pareto", "segment_value", "revenue_movements", "support_kpis"]:
    con.execute(f"COPY bench_{table} TO '{out}/{table}.parquet' (FORMAT parquet)")
