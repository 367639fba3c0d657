#!/usr/bin/env python3
"""Regenerates src/infra/bicep/type_index.tsv from Bicep's own resource type index.

Why: `bicep build` writes a resource type and API version with the casing of its type index
(NuGet package Azure.Bicep.Types.Az): AzResourceTypeLoader keys the available types by
`ResourceTypeReference.Parse(<index key>)` (case-insensitive) and AzResourceTypeFactory builds the
emitted reference from the type file's `name`. A type@version that is not in the index is emitted
as the source spells it (AzResourceTypeProvider.TryGenerateFallbackType).

Source: the Azure.Bicep.Types.Az assembly that the npm package @azure/mcp-linux-x64 (Azure MCP
Server, MIT) carries inside its single-file `azmcp` binary. NuGet is not reachable from here; npm
is. The assembly keeps `index.json` and the type files as deflated manifest resources. This script
finds the assembly, inflates its resources, takes every `Provider/type@apiVersion` key of the
index, checks that each type file present names the type with exactly the key's casing, and
writes one line per type casing: `<type>\\t<apiVersion> <apiVersion> ...`.

Usage: scripts/bicep-type-index.py [AZMCP_BINARY] > src/infra/bicep/type_index.tsv
Without an argument it runs `npm pack @azure/mcp-linux-x64@2.0.5` in a temporary directory.
"""
import collections
import json
import pathlib
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

NPM_PACKAGE = "@azure/mcp-linux-x64@2.0.5"


def fail(msg):
    sys.exit(f"bicep-type-index: {msg}")


def load_binary():
    if len(sys.argv) > 1:
        return pathlib.Path(sys.argv[1]).read_bytes(), sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        tgz = next(pathlib.Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/dist/azmcp")
            if member is None:
                fail(f"{NPM_PACKAGE} has no package/dist/azmcp")
            return member.read(), f"npm {NPM_PACKAGE}"


def find_assembly(blob):
    """The embedded PE image whose metadata names the resource `index.json.deflated`."""
    marker = blob.find(b"index.json.deflated\x00")
    if marker < 0:
        fail("no embedded Azure.Bicep.Types.Az index found")
    start = blob.rfind(b"MZ\x90\x00", 0, marker)
    end = blob.find(b"MZ\x90\x00", marker)
    return blob[start : end if end > 0 else len(blob)]


def product_version(pe):
    text = pe.decode("utf-16-le", errors="ignore")
    m = re.search(r"ProductVersion\x00+([0-9][0-9.]*\+[0-9a-f]+)", text)
    return m.group(1) if m else "unknown"


def manifest_resources(pe):
    """Yields the inflated managed resources of a .NET PE image (CLI header, Resources directory)."""
    e_lfanew = struct.unpack_from("<I", pe, 0x3C)[0]
    if pe[e_lfanew : e_lfanew + 4] != b"PE\0\0":
        fail("embedded image is not a PE file")
    nsec = struct.unpack_from("<H", pe, e_lfanew + 6)[0]
    optsz = struct.unpack_from("<H", pe, e_lfanew + 20)[0]
    opt = e_lfanew + 24
    magic = struct.unpack_from("<H", pe, opt)[0]
    data_dirs = opt + (96 if magic == 0x10B else 112)
    cli_rva = struct.unpack_from("<I", pe, data_dirs + 14 * 8)[0]
    sections = [struct.unpack_from("<IIII", pe, opt + optsz + 40 * s + 8) for s in range(nsec)]

    def offset(rva):
        for vsize, va, _rsize, raw in sections:
            if va <= rva < va + vsize:
                return rva - va + raw
        fail(f"RVA {rva:#x} is in no section")

    cli = offset(cli_rva)
    res_rva, res_size = struct.unpack_from("<II", pe, cli + 24)
    pos = offset(res_rva)
    end = pos + res_size
    while pos < end:
        length = struct.unpack_from("<I", pe, pos)[0]
        yield zlib.decompress(pe[pos + 4 : pos + 4 + length], -15)
        pos += 4 + length


def main():
    binary, origin = load_binary()
    pe = find_assembly(binary)
    version = product_version(pe)
    index = None
    names = collections.defaultdict(set)
    for raw in manifest_resources(pe):
        doc = json.loads(raw)
        if isinstance(doc, dict) and "resources" in doc:
            index = doc
            continue
        for t in doc if isinstance(doc, list) else []:
            if isinstance(t, dict) and t.get("$type") == "ResourceType":
                names[t["name"].lower()].add(t["name"])
    if index is None:
        fail("the assembly has no index.json")
    checked = 0
    by_type = collections.defaultdict(list)
    for key in index["resources"]:
        seen = names.get(key.lower())
        if seen is not None:
            if seen != {key}:
                fail(f"type file names {sorted(seen)} differ from index key {key}")
            checked += 1
        ty, _, api = key.rpartition("@")
        if not ty or not api:
            fail(f"malformed index key {key}")
        by_type[ty].append(api)
    print(f"# Resource types known to Bicep's type index: Azure.Bicep.Types.Az {version}, from {origin}.")
    print(f"# {len(index['resources'])} type@apiVersion keys ({checked} checked against their type file's name).")
    print("# Generated by scripts/bicep-type-index.py; do not edit. Format: <type>\\t<apiVersion> ...")
    for ty in sorted(by_type, key=lambda t: (t.lower(), t)):
        print(f"{ty}\t{' '.join(sorted(by_type[ty]))}")


main()
