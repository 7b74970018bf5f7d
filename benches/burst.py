"""Bursting at a real company's size: the bundled weekly-account-owners job, one report per account
manager, on a sample lake.

    python3 benches/burst.py [CUSTOMERS ...] [--lakes DIR]

For each size (default 100000: 200 account managers; 1000000: 2,000), generate a sample lake with
`pareto generate` (kept in --lakes, default target/bench-lakes/owners-N, and reused), run the job
with the release build (`pareto run --dry-run`: every group's report is rendered and archived,
nothing is sent), once untimed to warm the page cache, then timed under GNU time. Prints wall
time, CPU time and peak resident memory, how many groups, how long the shared queries took (they
run once), and the time per group (its queries and its rendering), from run.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "pareto")
AS_OF = "2026-11-23"


def timed(cmd, env):
    with tempfile.NamedTemporaryFile() as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", t.name] + cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
        wall, user, sys_, rss = open(t.name).read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss) / 1024


def lake_for(n, lakes):
    path = os.path.join(lakes, f"owners-{n}")
    if not os.path.exists(os.path.join(path, ".complete")):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(lakes, exist_ok=True)
        print(f"generating {n} customers into {path} ...", flush=True)
        subprocess.run([BIN, "generate", "--out", path, "--customers", str(n), "--seed", "42", "--until", AS_OF],
                       check=True, capture_output=True)
        open(os.path.join(path, ".complete"), "w").close()
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("customers", nargs="*", type=int, default=[100000])
    ap.add_argument("--lakes", default=os.path.join(REPO, "target", "bench-lakes"))
    a = ap.parse_args()
    print("| customers | groups | sent | wall | CPU | peak RSS | shared queries (once) | per group: queries + render |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in a.customers:
        lake = lake_for(n, a.lakes)
        with tempfile.TemporaryDirectory() as archive:
            env = dict(os.environ, PARETO_LAKE=lake, PARETO_ARCHIVE=archive)
            env.pop("PARETO_LOG", None)
            cmd = [BIN, "run", "weekly-account-owners", "--dry-run", "--as-of", AS_OF]
            subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True)
            wall, cpu, rss = timed(cmd, env)
            run = json.load(open(os.path.join(archive, "weekly-account-owners", "2026-W47.preview", "run.json")))
        groups = run["groups"]
        sent = sum(1 for g in groups if not g["not_sent"])
        per_group = [g["millis"] for g in groups]
        shared = [q for q in run["queries"] if "groups)" not in q["name"]]
        # The shared queries overlap; the longest chain is what the run waited for. Their sum is CPU.
        shared_s = sum(q["millis"] for q in shared) / 1000
        mean = sum(per_group) / len(per_group) if per_group else 0
        print(f"| {n:,} | {len(groups):,} | {sent:,} | {wall:.1f} s | {cpu:.1f} s | {rss:,.0f} MiB | "
              f"{shared_s:.1f} s summed over {len(shared)} | {mean:.0f} ms (total {sum(per_group) / 1000:.1f} s, max {max(per_group, default=0)} ms) |")


if __name__ == "__main__":
    main()
