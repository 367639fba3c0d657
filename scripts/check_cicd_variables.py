"""Checks what the schemas cannot: that a CI/CD definition works on a first run.

1. Every variable a definition reads is set in it or documented in its header comment (the
   comment block that opens the file), so a new user knows what to configure:
   - GitHub Actions: `${{ vars.X }}`, `${{ secrets.X }}` (documented), `${{ env.X }}` and
     upper-case shell variables in `run:` scripts (set in an `env:` block, by the script itself,
     or by the runner: GITHUB_*, RUNNER_*, …);
   - Azure Pipelines: `$(X)` macros and `variables['X']` (defined under `variables:`, set with
     `##vso[task.setvariable]`, predefined (`Build.BuildId`: a dotted name), or documented).
2. Nothing is used before the definition makes it: a step that publishes an Azure ML pipeline with
   `--image` runs after a step (of its job, or of a job it needs) that builds and pushes the job
   image (`mlops image build` without `--model`, with `--push`), and a step that submits it with an `azureml:` data asset runs after one that creates the asset.

Usage: check_cicd_variables.py FILE...  (exits 1 and names each problem).
"""
import re
import sys

import yaml

GITHUB_RUNNER_VARS = re.compile(r"^(GITHUB_\w*|RUNNER_\w*|CI|HOME|PATH|PWD|ACTIONS_\w*)$")
SHELL_VAR = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)\b")
ASSIGNED = re.compile(r"(?:^|[\s;(])(?:export\s+|local\s+|read\s+(?:-\w+\s+)*)?([A-Z][A-Z0-9_]*)=")
GH_EXPR = re.compile(r"\$\{\{\s*(vars|secrets|env)\.([A-Za-z_][A-Za-z0-9_]*)")
ADO_MACRO = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.]*)\)")
ADO_INDEX = re.compile(r"variables\[\s*'([A-Za-z_][A-Za-z0-9_.]*)'\s*\]")
# The job image: `mlops image build` without a model, pushed.
JOB_IMAGE_BUILD = re.compile(r"mlops image build\b(?:(?!--model)[^\n])*--push")
ADO_SET = re.compile(r"##vso\[task\.setvariable variable=([A-Za-z_][A-Za-z0-9_.]*)")


def header(text):
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def documented(name, head):
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", head) is not None


def walk(node):
    """Every mapping in a YAML document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def check_github(path, text, doc, problems):
    head = header(text)
    env_keys = set()
    for mapping in walk(doc):
        if isinstance(mapping.get("env"), dict):
            env_keys.update(mapping["env"])
    for kind, name in set(GH_EXPR.findall(text)):
        if kind == "env" and name not in env_keys:
            problems.append(f"{path}: reads env.{name}, which no env: block sets")
        elif kind in ("vars", "secrets") and not documented(name, head):
            problems.append(f"{path}: reads {kind}.{name}, which its header comment does not document")
    for mapping in walk(doc):
        script = mapping.get("run")
        if not isinstance(script, str):
            continue
        assigned = set(ASSIGNED.findall(script))
        for name in set(SHELL_VAR.findall(script)):
            if name in env_keys or name in assigned or GITHUB_RUNNER_VARS.match(name):
                continue
            if not documented(name, head):
                problems.append(f"{path}: a run script reads ${name}, which is neither set nor documented")


def ado_defined(doc):
    names = set()
    for mapping in walk(doc):
        variables = mapping.get("variables")
        if isinstance(variables, dict):
            names.update(variables)
        elif isinstance(variables, list):
            names.update(v["name"] for v in variables if isinstance(v, dict) and "name" in v)
        parameters = mapping.get("parameters")
        if isinstance(parameters, list):
            names.update(p["name"] for p in parameters if isinstance(p, dict) and "name" in p)
    return names


def check_azure(path, text, doc, problems):
    head = header(text)
    defined = ado_defined(doc) | set(ADO_SET.findall(text))
    used = set(ADO_MACRO.findall(text)) | set(ADO_INDEX.findall(text))
    for name in sorted(used):
        # Dotted names are predefined (Build.BuildId, System.AccessToken, Pipeline.Workspace, …).
        if "." in name or name in defined or documented(name, head):
            continue
        problems.append(f"{path}: reads $({name}), which is neither defined under variables: nor documented")


def jobs_of(doc):
    """(name, steps, needs) of each job; top-level steps form one job."""
    if isinstance(doc.get("steps"), list):
        yield "(steps)", doc["steps"], []
    jobs = doc.get("jobs")
    if isinstance(jobs, dict):  # GitHub Actions
        for name, job in jobs.items():
            needs = job.get("needs", [])
            yield name, job.get("steps", []), [needs] if isinstance(needs, str) else needs
    elif isinstance(jobs, list):  # Azure Pipelines
        for job in jobs:
            needs = job.get("dependsOn", [])
            yield job.get("job", job.get("deployment", "?")), job.get("steps", []), [needs] if isinstance(needs, str) else needs
    for stage in doc.get("stages", []) or []:
        yield from jobs_of(stage)


def check_order(path, doc, problems):
    jobs = {name: (steps, needs) for name, steps, needs in jobs_of(doc)}

    def earlier(name, index, seen=()):
        steps, needs = jobs[name]
        text = "\n".join(s for step in steps[:index] for s in strings(step))
        for need in needs:
            if need in jobs and need not in seen:
                text += "\n" + earlier(need, len(jobs[need][0]), seen + (name,))
        return text

    for name, (steps, _) in jobs.items():
        for index, step in enumerate(steps):
            body = " ".join(strings(step))
            before = earlier(name, index)
            if "mlops pipeline publish" in body and "--image" in body and not JOB_IMAGE_BUILD.search(before):
                problems.append(
                    f"{path}: job {name} publishes the pipeline with --image before any step it depends on builds the job image (mlops image build … --push)"
                )
            if "mlops pipeline submit" in body and "data_path=" in body and "az ml data create" not in before:
                problems.append(
                    f"{path}: job {name} submits the pipeline with a data asset before any step it depends on creates it (az ml data create)"
                )


def main(paths):
    problems = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        doc = yaml.safe_load(text) or {}
        if "/.github/" in f"/{path}":
            check_github(path, text, doc, problems)
        else:
            check_azure(path, text, doc, problems)
        check_order(path, doc, problems)
    for problem in problems:
        print(f"check-cicd: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
