#!/usr/bin/env python3
"""Regenerates src/infra/bicep/type_shapes.txt.gz: the ARM type of each property path of each
resource type's body, for resource-derived types with a path (`resourceInput<'T@v'>.properties.x`).

Why: `bicep build` emits `resourceInput<'T@v'>.a.b?` as the ARM primitive type of the property at
that path in the resource's body schema (TemplateWriter `ResourceDerivedTypeResolution`:
`TryGetNonLiteralTypeName` of the expressed type), so the compiler needs to know, for a path, whether
it is a string, int, bool, object, array or none of them. The schemas themselves (generated/**/types.json,
about 307 MB) are far too large to embed; this keeps only their shape.

Source: the same Azure/bicep-types-az commit as scripts/bicep-type-index.py (Azure.Bicep.Types.Az
0.2.896, commit 127544984c, MIT), and the same choice of type file per `Type@apiVersion`: files in
order of their path in lower case, the first `ResourceType` with a name (case-insensitive) winning,
as bicep-types' `buildIndex` does.

How types map (Bicep's AzResourceTypeFactory, then TemplateWriter.TryGetNonLiteralTypeName):
StringType and StringLiteralType are `s`, IntegerType `i`, BooleanType `b`; ObjectType `o`, followed
by its properties (`name=node`, as spelled) and `*=node` for additionalProperties; ArrayType `a`
followed by its item node. A UnionType takes the one name all its members share (a union of
objects is an object whose members cannot be accessed: `O`), else `n`, as are AnyType and NullType.
A DiscriminatedObjectType below the body is `O`. Below
--depth access steps (property, `[*]`, `.*`) from the body, objects and arrays become `O` and `A`:
their type is known, the paths below them are not recorded (the compiler refuses them).
Each body is completed as AzResourceTypeProvider.SetBicepResourceProperties completes it for
`resourceInput<>`: the known top-level properties (`KnownTopLevelResourceProperties`: tags, sku,
identity, ...) where the schema lacks them, and for a child type whose body is a union keyed by
`name`, the generic body with the properties some variant has (`CreateGenericResourceBody`); a body
that stays a tagged union is an object of the properties read through it as Bicep reads them
(`TypeHelper.GetNamedPropertyType`; see `tagged_union`), `?` where a variant lacks one (refused).

Checked against the `__bicep_resource_derived_type!` sources of the Azure Verified Modules
snapshot's `main.json` files (918 of 924 agree; the 6 others name type@versions not in the index).

Format (text, gzip-compressed): a header of `#` lines; then the node lines, node N on the Nth
(0-based) line after the header, children referring to earlier lines, identical shapes shared
across types and API versions; then a line `%`, then one line per type@apiVersion
`<type@apiVersion in lower case>\\t<node>`, sorted, the first being `*`, the body of a type the
schemas do not have (as Bicep's fallback type gives it).

Usage:
    git clone https://github.com/Azure/bicep-types-az /tmp/bicep-types-az
    scripts/bicep-type-shapes.py /tmp/bicep-types-az | gzip -9n > src/infra/bicep/type_shapes.txt.gz
"""
import argparse
import json
import subprocess
import sys

DEFAULT_COMMIT = "127544984ca3bc42936294e7afa723f9b5c2beaa"
DEFAULT_VERSION = "0.2.896"


def fail(msg):
    sys.exit(f"bicep-type-shapes: {msg}")


def git(repo, *args):
    done = subprocess.run(["git", "-C", repo, *args], capture_output=True)
    if done.returncode != 0:
        fail(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


class Shapes:
    """Hash-consed node lines: equal shapes get one id."""

    def __init__(self):
        self.ids = {}
        self.lines = []

    def node(self, line):
        found = self.ids.get(line)
        if found is None:
            found = self.ids[line] = len(self.lines)
            self.lines.append(line)
        return found


class TypeFile:
    def __init__(self, shapes, types, depth):
        self.shapes, self.types, self.depth = shapes, types, depth
        self.memo = {}

    def resolve(self, ref):
        r = ref["$ref"]
        if not r.startswith("#/"):
            fail(f"a reference into another file: {r}")
        return int(r[2:])

    def kind(self, i, seen=()):
        """The ARM type name letter of type i (`n` for none), ignoring children."""
        t = self.types[i]
        k = t["$type"]
        if k in ("StringType", "StringLiteralType"):
            return "s"
        if k == "IntegerType":
            return "i"
        if k == "BooleanType":
            return "b"
        if k in ("ObjectType", "DiscriminatedObjectType"):
            return "o"
        if k == "ArrayType":
            return "a"
        if k == "UnionType":
            if i in seen:
                return "n"
            names = {self.kind(self.resolve(e), seen + (i,)) for e in t["elements"]}
            return names.pop() if len(names) == 1 else "n"
        if k in ("AnyType", "NullType"):
            return "n"
        if k == "BuiltInType":
            return {"String": "s", "Int": "i", "Bool": "b", "Object": "o", "Array": "a"}.get(t["kind"], "n")
        fail(f"unexpected type {k}")

    def shape(self, i, depth):
        key = (i, depth)
        if key in self.memo:
            return self.memo[key]
        t = self.types[i]
        k = t["$type"]
        kind = self.kind(i)
        if k == "ObjectType" and depth > 0:
            parts = ["o"]
            for name, prop in t.get("properties", {}).items():
                if "\t" in name or "=" in name or "\n" in name:
                    fail(f"a property name the format cannot hold: {name!r}")
                parts.append(f"{name}={self.shape(self.resolve(prop['type']), depth - 1)}")
            if t.get("additionalProperties"):
                parts.append(f"*={self.shape(self.resolve(t['additionalProperties']), depth - 1)}")
            line = "\t".join(parts)
        elif k == "ArrayType" and depth > 0:
            line = f"a\t{self.shape(self.resolve(t['itemType']), depth - 1)}"
        elif k == "BuiltInType" and kind in "oa":
            # `object`/`array` without a declared shape: members are not accessible in Bicep.
            line = kind.upper()
        else:
            line = kind.upper() if kind in "oa" else kind
        found = self.memo[key] = self.shapes.node(line)
        return found

    def body(self, type_name, i, depth):
        """The body as AzResourceTypeProvider.SetBicepResourceProperties gives it to a derived type."""
        t = self.types[i]
        k = t["$type"]
        if k == "ObjectType":
            own = {name: self.shape(self.resolve(p["type"]), depth - 1) for name, p in t.get("properties", {}).items()}
            extra = None
            if t.get("additionalProperties"):
                extra = self.shape(self.resolve(t["additionalProperties"]), depth - 1)
            return self.object(own, lambda name: name not in own, extra)
        if k == "DiscriminatedObjectType":
            # A child type whose variants are keyed by name gets the generic body, with the
            # properties some variant has (`CreateGenericResourceBody`); other tagged unions stay
            # one, and a property access on them is an error.
            if t["discriminator"] == "name" and type_name.count("/") > 1:
                names = set(t.get("baseProperties", {}))
                for ref in t["elements"].values():
                    names |= set(self.types[self.resolve(ref)].get("properties", {}))
                common = {"id": self.shapes.node("s"), "name": self.shapes.node("s"), "type": self.shapes.node("s"), "apiVersion": self.shapes.node("s")}
                return self.object({n: v for n, v in common.items() if n in names}, lambda name: name in names, None)
            return self.tagged_union(t, depth)
        fail(f"{type_name}: unexpected body type {k}")

    def tagged_union(self, t, depth):
        """A body that stays a tagged union: each variant completed with the known top-level
        properties, and a property read as TypeHelper.GetNamedPropertyType reads one on a
        DiscriminatedObjectType: the discriminator is a string; any other property is what every
        variant has under that name (its own or fallback property, else its additionalProperties),
        the one shape if all agree, else the ARM type name they share (`O`/`A` if object/array),
        `n` if none; `?` (refused) if some variant has no such property at all."""
        known = known_top_level(self.shapes)
        variants = []
        for ref in t["elements"].values():
            e = self.types[self.resolve(ref)]
            props = {n: ("t", self.resolve(p["type"])) for n, p in t.get("baseProperties", {}).items()}
            props.update({n: ("t", self.resolve(p["type"])) for n, p in e.get("properties", {}).items()})
            for name in known:
                props.setdefault(name, ("k", name))
            extra = ("t", self.resolve(e["additionalProperties"])) if e.get("additionalProperties") else None
            variants.append((props, extra))
        names = []
        for props, _ in variants:
            names += [n for n in props if n not in names]
        own = {}
        for name in names:
            if name == t["discriminator"]:
                own[name] = self.shapes.node("s")
                continue
            members = [props.get(name, extra) for props, extra in variants]
            if any(m is None for m in members):
                own[name] = self.shapes.node("?")
            elif all(m == members[0] for m in members):
                kind, ref = members[0]
                own[name] = self.shape(ref, depth - 1) if kind == "t" else known[ref]
            else:
                letters = {self.kind(ref) if kind == "t" else self.shapes.lines[known[ref]][0].lower() for kind, ref in members}
                letter = letters.pop() if len(letters) == 1 else "n"
                own[name] = self.shapes.node(letter.upper() if letter in "oa" else letter)
        parts = ["o"] + [f"{name}={node}" for name, node in own.items()]
        return self.shapes.node("\t".join(parts))

    def object(self, own, want_known, extra):
        """An object node with `own` properties and the known top-level ones `want_known` admits."""
        props = dict(own)
        for name, line in known_top_level(self.shapes).items():
            if want_known(name):
                props[name] = line
        parts = ["o"] + [f"{name}={node}" for name, node in props.items()]
        if extra is not None:
            parts.append(f"*={extra}")
        return self.shapes.node("\t".join(parts))


def known_top_level(shapes):
    """`KnownTopLevelResourceProperties`: added to every body that lacks them (FallbackProperty)."""
    n = shapes.node
    s, i, b = n("s"), n("i"), n("b")
    strings = n(f"a\t{s}")
    obj = lambda *props: n("\t".join(["o", *props]))
    return {
        "location": s,
        "tags": obj(f"*={s}"),
        "asserts": obj(f"*={b}"),
        "properties": n("O"),
        "sku": obj(*(f"{p}={s}" for p in ("name", "tier", "size", "family", "model")), f"capacity={i}"),
        "kind": s,
        "managedBy": s,
        "managedByExtended": strings,
        "extendedLocation": obj(f"type={s}", f"name={s}"),
        "zones": strings,
        "placement": obj(f"zonePlacementPolicy={s}", f"includeZones={strings}", f"excludeZones={strings}"),
        "plan": n("O"),
        "eTag": s,
        "scale": obj(f"capacity={i}", f"maximum={i}", f"minimum={i}"),
        "identity": obj(
            f"principalId={s}",
            f"tenantId={s}",
            f"type={s}",
            f"identityIds={strings}",
            f"userAssignedIdentities={obj('*=' + str(obj(f'principalId={s}', f'clientId={s}')))}",
            f"delegatedResources={n('O')}",
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="a git clone of Azure/bicep-types-az")
    parser.add_argument("--commit", default=DEFAULT_COMMIT)
    parser.add_argument("--version", default=DEFAULT_VERSION, help="the Azure.Bicep.Types.Az version of --commit")
    parser.add_argument("--depth", type=int, default=12, help="access steps below the body recorded")
    args = parser.parse_args()
    commit = git(args.repo, "rev-parse", "--verify", f"{args.commit}^{{commit}}").decode().strip()
    files = []
    for entry in git(args.repo, "ls-tree", "-r", "-z", commit, "generated").decode().split("\0"):
        if entry.endswith("/types.json"):
            meta, path = entry.split("\t", 1)
            files.append((path, meta.split()[2]))
    shapes, roots = Shapes(), {}
    for path, sha in sorted(files, key=lambda f: f[0].lower()):
        types = json.loads(git(args.repo, "cat-file", "blob", sha))
        file = TypeFile(shapes, types, args.depth)
        for t in types:
            if t.get("$type") == "ResourceType" and t["name"].lower() not in roots:
                roots[t["name"].lower()] = file.body(t["name"].split("@")[0], file.resolve(t["body"]), args.depth)
    # `*`: the body Bicep gives a type@apiVersion it has no schema for
    # (`TryGenerateFallbackType`: the common resource properties and the known top-level ones).
    common = {name: shapes.node("s") for name in ("id", "name", "type", "apiVersion")}
    roots["*"] = TypeFile(shapes, [], args.depth).object(common, lambda name: True, None)
    print(f"# Resource body shapes: Azure.Bicep.Types.Az {args.version}+{commit[:10]}, Azure/bicep-types-az commit {commit} (MIT).")
    print(f"# Generated by scripts/bicep-type-shapes.py --depth {args.depth}; do not edit. {len(shapes.lines)} nodes, {len(roots)} types.")
    for line in shapes.lines:
        print(line)
    print("%")
    for name in sorted(roots):
        print(f"{name}\t{roots[name]}")


main()
