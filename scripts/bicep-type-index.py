#!/usr/bin/env python3
"""Regenerates src/infra/bicep/type_index.tsv from Bicep's own resource type index.

Why: `bicep build` writes a resource type and API version with the casing of its type index
(NuGet package Azure.Bicep.Types.Az): AzResourceTypeLoader keys the available types by
`ResourceTypeReference.Parse(<index key>)` (case-insensitive) and AzResourceTypeFactory builds the
emitted reference from the type file's `name`. A type@version that is not in the index is emitted
as the source spells it (AzResourceTypeProvider.TryGenerateFallbackType).

Source: a git clone of Azure/bicep-types-az (MIT), the repository Azure.Bicep.Types.Az is packed
from, at the commit of the package version the Bicep release being matched pins. The default is
0.2.896, which Bicep v0.46.1 pins (its src/Directory.Packages.props) and the newest compiler that
wrote the `main.json` files of the Azure Verified Modules snapshot the benchmark measures.

The package's version is Nerdbank.GitVersioning's `<version.json version>.<git height>`, so this
script computes it from the commit (height = commits since `version.json` last changed its
version) and refuses a commit whose height differs from --version. The heights of the commits that
Bicep's own bumps name (0.2.859, 0.2.871, 0.2.881, 0.2.891, 0.2.896) are each the "Update types"
(or, for 0.2.891, extension) commit landed one to three days before that bump, which is how the
mapping was checked.

The index itself is `generated/index.json`; when the clone has it (a snapshot may lack files of
several MB), its keys are used and checked against the rebuilt ones, otherwise it is rebuilt as
bicep-types' `buildIndex` builds it: every `generated/**/types.json` in order of its path in lower
case, each `ResourceType`'s `name` (`Type@apiVersion`) once, the first spelling winning among keys
equal but for case. That rebuild was checked against the index inside the 0.2.804 assembly
(npm @azure/mcp-linux-x64 2.0.5, the previous source of this table): the same 28,111 keys, casing
included, at each commit from 74f74ad8e to 40b81e6ba (heights 789-802). That assembly names commit
9aca8c0b20, which is not on the repository's main history, so its height could not be checked the
same way. Output: one line per type casing, `<type>\\t<apiVersion> <apiVersion> ...`.

Usage (one command; the clone needs its full history for the height):
    git clone https://github.com/Azure/bicep-types-az /tmp/bicep-types-az
    scripts/bicep-type-index.py /tmp/bicep-types-az > src/infra/bicep/type_index.tsv
Another version: --version 0.2.N --commit REV --pinned-by 'Bicep vX.Y.Z' (all three together).
"""
import argparse
import collections
import json
import subprocess
import sys

DEFAULT_VERSION = "0.2.896"
# Azure/bicep-types-az "Update types from azure-rest-api-specs e03e8c1a6e (#2769)", 2026-07-29.
DEFAULT_COMMIT = "127544984ca3bc42936294e7afa723f9b5c2beaa"
DEFAULT_PINNED_BY = "Bicep v0.46.1"


def fail(msg):
    sys.exit(f"bicep-type-index: {msg}")


class Repo:
    def __init__(self, path):
        self.path = path
        self._batch = None

    def git(self, *args):
        done = subprocess.run(["git", "-C", self.path, *args], capture_output=True)
        if done.returncode != 0:
            fail(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode()

    def blob(self, sha):
        """The blob's bytes, or None when the clone lacks it (a partial snapshot)."""
        if self._batch is None:
            self._batch = subprocess.Popen(
                ["git", "-C", self.path, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        self._batch.stdin.write(sha.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) != 3:
            return None
        data = self._batch.stdout.read(int(header[2]))
        self._batch.stdout.read(1)
        return data


def version_of(repo, commit):
    """Nerdbank.GitVersioning's `major.minor.height` of the commit (no path filters in this repo)."""
    major_minor = json.loads(repo.git("show", f"{commit}:version.json"))["version"]
    for change in repo.git("log", "--format=%H", commit, "--", "version.json").split():
        parents = repo.git("rev-list", "--parents", "-n", "1", change).split()[1:]
        before = [p for p in parents if version_json(repo, p) == major_minor]
        if not before:
            height = int(repo.git("rev-list", "--count", commit, "--not", *parents).strip())
            return f"{major_minor}.{height}"
    fail(f"no commit sets version {major_minor} in version.json")


def version_json(repo, commit):
    listed = repo.git("ls-tree", commit, "version.json").strip()
    if not listed:
        return None
    return json.loads(repo.blob(listed.split()[2]))["version"]


def rebuilt_index(repo, commit):
    """`Type@apiVersion` keys in the order and with the spelling bicep-types' buildIndex gives them."""
    files = []
    for entry in repo.git("ls-tree", "-r", "-z", commit, "generated").split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        if path.endswith("/types.json"):
            files.append((path[len("generated/") :], meta.split()[2]))
    if not files:
        fail(f"{commit} has no generated/**/types.json")
    seen, keys = set(), []
    for rel, sha in sorted(files, key=lambda f: f[0].lower()):
        data = repo.blob(sha)
        if data is None:
            fail(f"the clone lacks generated/{rel}; the index cannot be rebuilt without it")
        for t in json.loads(data):
            if isinstance(t, dict) and t.get("$type") == "ResourceType" and t["name"].lower() not in seen:
                seen.add(t["name"].lower())
                keys.append(t["name"])
    return keys


def index_keys(repo, commit):
    """The keys of generated/index.json, checked against the rebuild; the rebuild if it is absent."""
    keys = rebuilt_index(repo, commit)
    listed = repo.git("ls-tree", commit, "generated/index.json").strip()
    data = repo.blob(listed.split()[2]) if listed else None
    if data is None:
        return keys, "rebuilt from the type files (the clone lacks generated/index.json)"
    stored = list(json.loads(data)["resources"])
    if sorted(stored) != sorted(keys):
        fail(f"generated/index.json ({len(stored)} keys) differs from the rebuilt index ({len(keys)} keys)")
    return stored, "from generated/index.json, equal to the rebuilt index"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="a git clone of Azure/bicep-types-az with its history")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="Azure.Bicep.Types.Az version (0.2.N)")
    parser.add_argument("--commit", help="the commit of that version (default: the one of 0.2.896)")
    parser.add_argument("--pinned-by", help=f"the Bicep release pinning it (default for {DEFAULT_VERSION}: {DEFAULT_PINNED_BY})")
    args = parser.parse_args()
    if args.version != DEFAULT_VERSION and (args.commit is None or args.pinned_by is None):
        fail(f"--version {args.version} needs --commit (the commit of that height) and --pinned-by")
    pinned_by = args.pinned_by or DEFAULT_PINNED_BY
    repo = Repo(args.repo)
    commit = repo.git("rev-parse", "--verify", f"{args.commit or DEFAULT_COMMIT}^{{commit}}").strip()
    version = version_of(repo, commit)
    if version != args.version:
        fail(f"commit {commit} is Azure.Bicep.Types.Az {version}, not {args.version}")
    date, subject = repo.git("log", "-1", "--format=%cs%x00%s", commit).rstrip("\n").split("\0")
    keys, how = index_keys(repo, commit)
    by_type = collections.defaultdict(list)
    for key in keys:
        ty, _, api = key.rpartition("@")
        if not ty or not api:
            fail(f"malformed index key {key}")
        by_type[ty].append(api)
    subject = subject.replace("https://github.com/Azure/azure-rest-api-specs/tree/", "azure-rest-api-specs ")
    print(f"# Resource types known to Bicep's type index: Azure.Bicep.Types.Az {version}+{commit[:10]}, as pinned by {pinned_by}.")
    print(f"# Source: Azure/bicep-types-az commit {commit} ({date}, {subject}); {len(keys)} type@apiVersion keys, {how}.")
    print("# Generated by scripts/bicep-type-index.py; do not edit. Format: <type>\\t<apiVersion> ...")
    for ty in sorted(by_type, key=lambda t: (t.lower(), t)):
        print(f"{ty}\t{' '.join(sorted(by_type[ty]))}")


main()
