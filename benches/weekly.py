"""The weekly report at a real company's size, against DuckDB on the same figures.

    python3 benches/weekly.py [CUSTOMERS ...] [--lakes DIR] [--memory-limit 1GiB]

For each size (default 100000 300000 1000000): generate a sample lake with `pareto generate`
(kept in --lakes, default target/bench-lakes, and reused), run the bundled weekly-leadership job
on it with the release build (`pareto run --dry-run`, once untimed to warm the page cache and
leave last week's run.json, then timed), compute the same headline figures with
DuckDB from benches/duckdb/weekly.sql in a process of its own, check that both agree, and print
wall time, CPU time and peak resident memory (GNU time) for each side and the ratios, and the
size of pareto's archive, and how long rendering the report and its charts took (run.json's
`render`). `bash benches/weekly.sh` installs DuckDB and builds first.

The weekly job computes much that DuckDB's script does not (predicted value, data health, cohorts,
the previous period's tiers, the archive and the report). A second table times a job that asks
pareto for only the figures DuckDB computes (`bench-figures`: the five compared queries, with the
weekly job's parameters and value model, in a scratch project beside this one), checked the same
way: what the engine costs on the same work.
"""
import argparse
import datetime
import decimal
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zoneinfo

import duckdb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "pareto")
AS_OF = "2026-11-23"
TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
THREADS = os.cpu_count() or 2


def timed(cmd, env=None):
    """Run cmd under GNU time: (wall s, cpu s, peak RSS MiB, stdout)."""
    with tempfile.NamedTemporaryFile() as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", t.name] + cmd, env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
        wall, user, sys_, rss = open(t.name).read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss) / 1024, p.stdout


def lake_for(n, lakes):
    path = os.path.join(lakes, str(n))
    if not os.path.exists(os.path.join(path, ".complete")):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(lakes, exist_ok=True)
        print(f"generating {n} customers into {path} ...", flush=True)
        subprocess.run([BIN, "generate", "--out", path, "--customers", str(n), "--seed", "42",
                        "--until", AS_OF], check=True, capture_output=True)
        open(os.path.join(path, ".complete"), "w").close()
    return path


def period():
    """Week 2026-W47 as the weekly job sees it on 2026-11-23 in Europe/Amsterdam."""
    start_d = datetime.date(2026, 11, 16)
    end_d = start_d + datetime.timedelta(days=7)
    prev_d = start_d - datetime.timedelta(days=7)
    utc = lambda d: datetime.datetime.combine(d, datetime.time(), TZ).astimezone(datetime.timezone.utc)
    return {
        "ps": utc(start_d).isoformat(), "pe": utc(end_d).isoformat(), "pps": utc(prev_d).isoformat(),
        "psd": start_d.isoformat(), "ped": end_d.isoformat(), "ppsd": prev_d.isoformat(),
        "months": 7 / 30.4375,
    }


def rows(path):
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{path}')")
    names = rel.columns
    return [dict(zip(names, r)) for r in rel.fetchall()]


def pareto_rows(archive, query, job="weekly-leadership"):
    files = glob.glob(os.path.join(archive, job, "*.preview", "results", f"{query}.parquet"))
    if not files:
        sys.exit(f"pareto's archive has no results/{query}.parquet")
    return rows(files[0])


def num(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


def same(a, b):
    a, b = num(a), num(b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b


# (query, key columns, compared columns)
CHECKS = [
    ("headline", [], ["revenue", "orders", "active_customers", "new_customers", "arr", "paying_customers"]),
    ("pareto", ["basis"], ["customers", "revenue", "top20_share", "customers_to_80", "gini"]),
    ("segment_value", ["dimension", "segment"], ["customers", "revenue", "ltv", "arr", "prev_revenue"]),
    ("revenue_movements", ["month", "segment"],
     ["start_mrr", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "end_mrr", "nrr", "nrr_12m"]),
    ("support_kpis", ["dimension", "segment"],
     ["tickets", "first_reply_median_h", "first_reply_p90_h", "resolution_median_h", "resolution_p90_h",
      "csat_responses", "csat", "nps"]),
]


def compare(archive, duck_out, job="weekly-leadership"):
    """Every DuckDB row has a pareto row with the same figures; returns (figures compared, problems)."""
    problems, compared = [], 0
    for query, keys, cols in CHECKS:
        mine = {tuple(num(r[k]) for k in keys): r for r in pareto_rows(archive, query, job)}
        theirs = rows(os.path.join(duck_out, f"{query}.parquet"))
        if not theirs:
            problems.append(f"{query}: DuckDB returned no rows")
        for r in theirs:
            key = tuple(num(r[k]) for k in keys)
            m = mine.get(key)
            if m is None:
                problems.append(f"{query} {key}: no such row in pareto's result")
                continue
            for c in cols:
                compared += 1
                if not same(m[c], r[c]):
                    problems.append(f"{query} {key} {c}: pareto {num(m[c])!r}, DuckDB {num(r[c])!r}")
    return compared, problems


FIGURES_JOB = """name = "bench-figures"
description = "Only the figures DuckDB's bench script computes"
schedule = "0 7 * * MON"
timezone = "Europe/Amsterdam"
period = "week"
queries = [{queries}]
template = "bench-figures"
subject = "Bench figures"
to = ["bench@example.com"]

{params}
{scoring}
"""


def figures_project(work):
    """A scratch project with the repository's queries and the `bench-figures` job."""
    weekly = open(os.path.join(REPO, "jobs", "weekly-leadership.toml")).read()

    def section(start, end):
        i, j = weekly.find(start), weekly.find(end)
        if i < 0 or j < i:
            sys.exit(f"jobs/weekly-leadership.toml: cannot find its {start} section (before {end}) for the bench-figures job")
        return weekly[i:j]

    project = os.path.join(work, "figures-project")
    os.makedirs(os.path.join(project, "jobs"))
    shutil.copy(os.path.join(REPO, "pareto.toml"), project)
    os.symlink(os.path.join(REPO, "queries"), os.path.join(project, "queries"))
    shutil.copytree(os.path.join(REPO, "templates"), os.path.join(project, "templates"))
    for ext in ["html", "txt"]:
        open(os.path.join(project, "templates", f"bench-figures.{ext}.hbs"), "w").write("{{period.title}}\n")
    job = FIGURES_JOB.format(queries=", ".join(f'"{q}"' for q, _, _ in CHECKS),
                             params=section("[params]", "[[alert]]"), scoring=section("[scoring]", "[prediction]"))
    open(os.path.join(project, "jobs", "bench-figures.toml"), "w").write(job)
    return project


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--lakes", default=os.path.join(REPO, "target", "bench-lakes"))
    ap.add_argument("--memory-limit", help="run pareto with this [lake] memory_limit (e.g. 1GiB)")
    a = ap.parse_args()
    p = period()
    table, figures = [], []
    failed = False
    for n in a.sizes:
        lake = lake_for(n, a.lakes)
        work = tempfile.mkdtemp(prefix="pareto-bench-")
        try:
            env = dict(os.environ, PARETO_LAKE=lake, PARETO_ARCHIVE=os.path.join(work, "archive"),
                       PARETO_STATE=os.path.join(work, "state"), PARETO_PROJECT=REPO)
            if a.memory_limit:
                env["PARETO_MEMORY_LIMIT"] = a.memory_limit
            env.pop("PARETO_LOG", None)
            # A first, untimed run: it warms the page cache for both sides, and leaves the run.json a
            # scheduled job always has from last week (pareto keeps its heaviest queries apart by it).
            timed([BIN, "run", "weekly-leadership", "--as-of", AS_OF, "--dry-run"], env)
            pw, pc, pm, _ = timed([BIN, "run", "weekly-leadership", "--as-of", AS_OF, "--dry-run"], env)
            duck_out = os.path.join(work, "duckdb")
            dw, dc, dm, _ = timed([sys.executable, os.path.join(REPO, "benches", "duckdb", "run.py"), lake, duck_out,
                                   str(THREADS), p["ps"], p["pe"], p["pps"], p["psd"], p["ped"], p["ppsd"], str(p["months"])])
            compared, problems = compare(os.path.join(work, "archive"), duck_out)
            # The same figures alone, in a project with a job of just those (warmed up the same way).
            fenv = dict(env, PARETO_PROJECT=figures_project(work), PARETO_ARCHIVE=os.path.join(work, "figures-archive"),
                        PARETO_STATE=os.path.join(work, "figures-state"))
            timed([BIN, "run", "bench-figures", "--as-of", AS_OF, "--dry-run"], fenv)
            fw, fc, fm, _ = timed([BIN, "run", "bench-figures", "--as-of", AS_OF, "--dry-run"], fenv)
            fcompared, fproblems = compare(os.path.join(work, "figures-archive"), duck_out, "bench-figures")
            problems += [f"bench-figures: {line}" for line in fproblems]
            archive_mb = du(os.path.join(work, "archive")) / 2**20
            runs = glob.glob(os.path.join(work, "archive", "weekly-leadership", "*", "run.json"))
            record = json.load(open(runs[0])) if runs else {}
            slowest = sorted(record.get("queries", []), key=lambda q: -q["millis"])[:5]
            render = record.get("render")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        compared += fcompared
        status = f"{compared} figures agree" if not problems else f"{len(problems)} of {compared} figures differ"
        print(f"{n:>9,} customers: {status}", flush=True)
        for line in problems[:20]:
            print("    " + line)
        failed |= bool(problems)
        print("    slowest queries: " + ", ".join(f"{q['name']} {q['millis'] / 1000:.1f}s" for q in slowest))
        if render:
            print(f"    report rendered in {render['millis']} ms with {render['charts']} charts "
                  f"({render['chart_bytes'] / 1024:.0f} KiB of PNG); HTML part {render['html_bytes'] / 1000:.1f} KB")
        table.append((n, pw, pc, pm, dw, dc, dm, archive_mb))
        figures.append((n, fw, fc, fm, dw, dc, dm))

    print()
    print(f"| customers | pareto wall | pareto CPU | pareto peak RSS | DuckDB wall | DuckDB CPU | DuckDB peak RSS | wall ratio | RSS ratio | archive |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, pw, pc, pm, dw, dc, dm, arch in table:
        print(f"| {n:,} | {pw:.1f} s | {pc:.1f} s | {pm:,.0f} MiB | {dw:.1f} s | {dc:.1f} s | {dm:,.0f} MiB | "
              f"{pw / dw:.2f}× | {pm / dm:.2f}× | {arch:.1f} MiB |")
    print()
    print("Only the figures DuckDB computes (the bench-figures job):")
    print()
    print("| customers | pareto wall | pareto CPU | pareto peak RSS | DuckDB wall | DuckDB CPU | DuckDB peak RSS | wall ratio | CPU ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, fw, fc, fm, dw, dc, dm in figures:
        print(f"| {n:,} | {fw:.1f} s | {fc:.1f} s | {fm:,.0f} MiB | {dw:.1f} s | {dc:.1f} s | {dm:,.0f} MiB | "
              f"{fw / dw:.2f}× | {fc / dc:.2f}× |")
    if len(table) > 1:
        base = table[0]
        for row in table[1:]:
            print(f"time at {row[0]:,} / time at {base[0]:,} customers: {row[1] / base[1]:.1f}× (size {row[0] / base[0]:.0f}×)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
