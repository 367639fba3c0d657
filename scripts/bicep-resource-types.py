#!/usr/bin/env python3
"""Regenerates src/infra/bicep/resource_types.tsv: the casing `bicep build` gives resource types.

`bicep build` writes each resource type with the casing of its type database
(Azure.Bicep.Types.Az) for that API version, whatever casing the source used. That database is
not reachable from here, so this table records the casings seen in the official compiler's
outputs in ../shared/bicep-corpus (MIT, Azure/bicep v0.46.1). Types that are not in the table
are emitted as written.

Usage: scripts/bicep-resource-types.py [CORPUS_DIR] > src/infra/bicep/resource_types.tsv
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/bicep-corpus")
seen = {}


def walk(template):
    resources = template.get("resources", [])
    if isinstance(resources, dict):
        resources = list(resources.values())
    for r in resources:
        t, v = r.get("type"), r.get("apiVersion")
        if isinstance(t, str) and isinstance(v, str) and not t.startswith("["):
            seen.setdefault((t.lower(), v.lower()), (t, v))
        inner = r.get("properties", {}).get("template") if isinstance(r.get("properties"), dict) else None
        if isinstance(inner, dict):
            walk(inner)


for path in sorted(root.rglob("main.json")):
    walk(json.loads(path.read_text(encoding="utf-8-sig")))
print("# type\tapiVersion: resource type casing as bicep build v0.46.1 writes it (see scripts/bicep-resource-types.py)")
for key in sorted(seen):
    t, v = seen[key]
    print(f"{t}\t{v}")
