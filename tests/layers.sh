#!/usr/bin/env bash
# The layering check (issue #14): the top-level modules of src/ must form layers, that is
# no cycle among them, counting every `crate::` path (in `use` and in code) that one
# module's files name in another's; and the bottom layer, sys, imports nothing of the crate.
#   bash tests/layers.sh          check (exit 1 on a cycle not allowed)
#   bash tests/layers.sh --graph  print each module's imports, lowest layer first
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - "${1:-}" <<'PY'
import pathlib, re, sys

show_graph = sys.argv[1] == "--graph"
src = pathlib.Path("src")
modules = sorted({p.stem if p.is_file() else p.name for p in src.iterdir()
                  if (p.suffix == ".rs" or p.is_dir()) and p.stem not in ("lib", "main")})
edges = {m: set() for m in modules}
group = re.compile(r"crate::\{([^}]*)\}", re.S)
single = re.compile(r"crate::([a-z_][a-z0-9_]*)")
for path in src.rglob("*.rs"):
    rel = path.relative_to(src).parts
    owner = rel[0][:-3] if len(rel) == 1 else rel[0]
    if owner not in edges:
        continue
    text = "\n".join(line.split("//", 1)[0] for line in path.read_text().splitlines())
    names = set(single.findall(text))
    for inner in group.findall(text):
        names.update(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", inner))
    edges[owner].update(n for n in names if n in edges and n != owner)

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        scc = set()
        while True:
            w = stack.pop(); on.discard(w); scc.add(w)
            if w == v:
                break
        sccs.append(scc)
sys.setrecursionlimit(10000)
for m in modules:
    if m not in index:
        visit(m)

if show_graph:
    for scc in sccs:  # Tarjan emits components in reverse topological order: lowest first
        for m in sorted(scc):
            print(f"{m:12} -> {' '.join(sorted(edges[m])) or '(nothing)'}")
cycles = [scc for scc in sccs if len(scc) > 1]
bad = list(cycles)
for floor in ("sys",):  # the bottom layer imports nothing of the crate
    if edges.get(floor):
        print(f"layers: {floor} must import nothing of the crate, imports {' '.join(sorted(edges[floor]))}")
        bad.append({floor})
for scc in cycles:
    ties = [f"{a}->{b}" for a in sorted(scc) for b in sorted(edges[a] & scc)]
    print(f"layers: cycle {{{', '.join(sorted(scc))}}}: {' '.join(ties)}")
if bad:
    print("layers: a module imports one above it; move the shared item down (see tests/layers.sh)")
    sys.exit(1)
print(f"layers: {len(modules)} top-level modules in layers, no cycle")
PY
