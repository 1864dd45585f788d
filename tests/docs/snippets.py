#!/usr/bin/env python3
"""tests/docs/snippets.py - compile and run the C programs in the docs.

Every ```c block of README.md and docs/*.md that defines main() is a
complete program: it is compiled (-std=c11 -Wall -Wextra -Werror, the project's
include directory), linked against the built library, run, and must exit
0 within the time limit. A block without main() is a fragment and is not
built. An HTML comment on the line just before the opening fence changes
that for one block:

  <!-- snippet: no-run -->   compile and link it, do not run it
  <!-- snippet: skip -->     do not build it (say why next to it)

Files that must hold at least one program (--require) fail the test if a
block loses its main(), so the important examples cannot silently drop
out. Python 3 standard library only; run by the ctest docs/snippets.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys

FENCE = re.compile(r"^```c\s*$")
MAIN = re.compile(r"^(?:int\s+)?main\s*\(", re.M)
MARK = re.compile(r"^<!--\s*snippet:\s*([\w-]+)\s*-->\s*$")


def blocks(path):
    """(first line number, mode, code) of every ```c block in path."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        mark = MARK.match(lines[i - 1].strip()) if i > 0 else None
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        code = "\n".join(lines[i + 1:j]) + "\n"
        mode = mark.group(1) if mark else ("run" if MAIN.search(code)
                                          else "fragment")
        if mode not in ("run", "no-run", "skip", "fragment"):
            raise SystemExit(f"{path}:{i}: unknown snippet mark {mode!r}")
        yield i + 1, mode, code
        i = j + 1


def build_and_run(job, a):
    """Returns (job, None) or (job, a sentence saying what failed)."""
    rel, line, mode, code = job
    name = re.sub(r"[^A-Za-z0-9]+", "_", f"{rel}_{line}").strip("_")
    src = os.path.join(a.work, name + ".c")
    exe = os.path.join(a.work, name)
    with open(src, "w", encoding="utf-8") as f:
        f.write(code)
    cmd = [a.cc, *a.cflags, "-o", exe, src, *a.libs]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return job, f"does not compile:\n$ {' '.join(cmd)}\n{r.stderr}"
    if mode == "no-run":
        return job, None
    env = dict(os.environ)
    env.pop("AXON_PLACE", None)  # the program's own placement
    try:
        r = subprocess.run([exe], capture_output=True, text=True,
                           timeout=a.timeout, cwd=a.work, env=env)
    except subprocess.TimeoutExpired:
        return job, f"did not end within {a.timeout} s"
    if r.returncode != 0:
        return job, (f"exited with {r.returncode}\n--- stdout\n{r.stdout}"
                     f"--- stderr\n{r.stderr}")
    return job, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the source tree")
    ap.add_argument("--work", required=True, help="a scratch directory")
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cflag", dest="cflags", action="append", default=[])
    ap.add_argument("--lib", dest="libs", action="append", default=[])
    ap.add_argument("--require", action="append", default=[],
                    help="a file (relative to root) that must hold a "
                         "program")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    files = [os.path.join(a.root, "README.md")]
    files += sorted(glob.glob(os.path.join(a.root, "docs", "*.md")))
    jobs, fragments = [], 0
    for path in files:
        rel = os.path.relpath(path, a.root)
        for line, mode, code in blocks(path):
            if mode in ("run", "no-run"):
                jobs.append((rel, line, mode, code))
            else:
                fragments += 1
    missing = [r for r in a.require if not any(j[0] == r for j in jobs)]

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        for job, err in ex.map(lambda j: build_and_run(j, a), jobs):
            rel, line, mode, _ = job
            if err:
                failed += 1
                print(f"FAIL {rel}:{line}: the program {err}\n")
            else:
                print(f"ok   {rel}:{line} ({'built' if mode == 'no-run' else 'built and ran'})")
    for r in missing:
        failed += 1
        print(f"FAIL {r}: no ```c block with main() in it (required)")
    print(f"{len(jobs)} programs, {failed} failed; "
          f"{fragments} fragments not built")
    return 1 if failed or not jobs else 0


if __name__ == "__main__":
    sys.exit(main())
