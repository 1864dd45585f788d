#!/usr/bin/env python3
"""tests/arch/layers.py - the layers of axon point one way.

Reads every #include "..." line of base/ serialize/ transport/ actors/ and
fails on any that points up a layer (or sideways where the design keeps two
layers apart: the transport knows nothing of msgpack, serialize nothing of
fds). With a build directory, also reads the objects' symbols (nm): a
layer's object may call only functions defined in its own layer or in one
it may include, so a call upward through a public ax_ function fails too.

    layers.py SOURCE_DIR [BUILD_DIR]
"""
import os
import re
import subprocess
import sys

# The allowed order, written once: each layer and what it may use.
ALLOWED = {
    "base": [],
    "serialize": ["base"],
    "transport": ["base"],
    "actors/core": ["base", "serialize", "transport"],
    "actors/signals": ["actors/core"],
    "actors/route": ["actors/signals"],
    "actors/names": ["actors/route"],
    "actors/process": ["actors/names"],
    "actors/supervise": ["actors/process"],
}


def below(layer):
    """Every layer `layer` may use, directly or through those it uses."""
    out, todo = set(), list(ALLOWED[layer])
    while todo:
        d = todo.pop()
        if d not in out:
            out.add(d)
            todo.extend(ALLOWED[d])
    return out


def layer_of(path):
    """The layer a path (relative to the source tree) belongs to."""
    best = None
    for layer in ALLOWED:
        if path == layer or path.startswith(layer + "/"):
            if best is None or len(layer) > len(best):
                best = layer
    return best


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def check_includes(src):
    errors = []
    for top in ("base", "serialize", "transport", "actors"):
        for root, _, files in os.walk(os.path.join(src, top)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(root, name), src)
                me = layer_of(path)
                if me is None:
                    errors.append(f"{path}: in no layer (add it to ALLOWED)")
                    continue
                ok = below(me) | {me}
                with open(os.path.join(src, path)) as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = layer_of(m.group(1))
                        if target is None or target in ok:
                            continue
                        errors.append(
                            f"{path}:{n}: includes {m.group(1)} "
                            f"({target}), but {me} may use only "
                            f"{', '.join(sorted(below(me))) or 'nothing'}")
    return errors


def objects(src, build):
    """(layer, object path) for every object file of the library whose
    source is still in the tree (a build dir may keep stale ones)."""
    out = []
    for top in ("base", "serialize", "transport", "actors"):
        d = os.path.join(build, top, "CMakeFiles", f"axon_{top}.dir")
        for root, _, files in os.walk(d):
            for name in files:
                if name.endswith(".c.o"):
                    rel = f"{top}/" + os.path.relpath(
                        os.path.join(root, name), d)[:-2]
                    if os.path.exists(os.path.join(src, rel)):
                        out.append((layer_of(rel), os.path.join(root, name)))
    return out


def nm(path, defined):
    args = ["nm", "--defined-only" if defined else "--undefined-only",
            "-j", path]
    return set(subprocess.run(args, capture_output=True, text=True,
                              check=True).stdout.split())


def check_symbols(src, build):
    objs = objects(src, build)
    if not objs:
        return [f"{build}: no object files of the library found"]
    home = {}
    for layer, path in objs:
        for sym in nm(path, True):
            home.setdefault(sym, layer)
    errors = []
    for layer, path in objs:
        ok = below(layer) | {layer}
        for sym in sorted(nm(path, False)):
            target = home.get(sym)
            if target is not None and target not in ok:
                errors.append(f"{os.path.basename(path)} ({layer}) calls "
                              f"{sym}, defined in {target}: up a layer")
    return errors


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    errors = check_includes(sys.argv[1])
    if len(sys.argv) == 3:
        errors += check_symbols(sys.argv[1], sys.argv[2])
    for e in errors:
        print(e)
    layers = "; ".join(f"{k} uses {', '.join(v) or 'nothing'}"
                       for k, v in ALLOWED.items())
    if errors:
        print(f"{len(errors)} dependencies point the wrong way ({layers})")
        return 1
    print(f"layers point one way: {layers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
