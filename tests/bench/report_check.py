#!/usr/bin/env python3
"""tests/bench/report_check.py - the benchmark report names only real
workloads, and axon-bench survives a smoke run.

1. Every workload in the first column of a table in bench/README.md and
   bench/peers/README.md (a cell like | `proc_spawn` |) is listed by
   `axon-bench --list`.
2. `axon-bench --quick --runs 1 --json` of the given workloads exits 0
   and prints one JSON line per workload with a positive median (the
   numbers of a smoke run mean nothing; no time is checked).

Usage: report_check.py --bench EXE --root SRC [--smoke W ...]
"""
import argparse
import json
import os
import re
import subprocess
import sys

CELL = re.compile(r"^\|\s*`([a-z][a-z0-9_]*)`")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--smoke", nargs="*", default=[])
    a = ap.parse_args()
    bad = 0

    out = subprocess.run([a.bench, "--list"], check=True,
                         capture_output=True, text=True).stdout
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    for rel in ("bench/README.md", "bench/peers/README.md"):
        path = os.path.join(a.root, rel)
        named = set()
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = CELL.match(line)
                if m:
                    named.add(m.group(1))
        if not named:
            print(f"{rel}: no workload table found")
            bad += 1
        for w in sorted(named - listed):
            print(f"{rel}: names `{w}`, which axon-bench --list does not have")
            bad += 1
        if named and not named - listed:
            print(f"{rel}: {len(named)} workloads named, all listed")

    if a.smoke:
        try:
            # under ctest's 300 s limit, so that this says what hung
            r = subprocess.run([a.bench, "--quick", "--runs", "1", "--json"]
                               + a.smoke, capture_output=True, text=True,
                               timeout=270)
        except subprocess.TimeoutExpired as e:
            print(f"smoke run: over 270 s; its output so far:\n{e.stdout}")
            return 1
        if r.returncode != 0:
            print(f"smoke run failed ({r.returncode}):\n{r.stdout}{r.stderr}")
            bad += 1
        got = {}
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                j = json.loads(line)
                got[j["workload"]] = j["median"]
        for w in a.smoke:
            if not (got.get(w) or 0) > 0:
                print(f"smoke run: no positive result for {w}")
                bad += 1
        print(f"smoke run: {len(got)} workloads ran")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
