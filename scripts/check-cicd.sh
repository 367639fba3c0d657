#!/usr/bin/env bash
# Validates the CI/CD definitions under ROOT (default: the repository):
#   - Azure DevOps YAML (pipelines/azure-devops/, environment_setup/pipelines/) against
#     check-jsonschema's bundled Azure Pipelines schema;
#   - GitHub Actions workflows (.github/workflows/) against its bundled GitHub workflow schema and
#     with actionlint (expressions, contexts, action inputs, job dependencies);
#   - both for a first run (scripts/check_cicd_variables.py): every variable a definition reads is
#     set in it or documented in its header comment, and the job image and the training data asset
#     are made before the steps that use them.
# check-jsonschema, actionlint and PyYAML come from the test virtualenv (scripts/requirements-test.txt).
# Usage: scripts/check-cicd.sh [ROOT]
set -euo pipefail
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${1:-$SCRIPTS/..}"
cd "$ROOT"
shopt -s nullglob

azure=(pipelines/azure-devops/*.yml environment_setup/pipelines/*.yml)
github=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#azure[@]} -eq 0 ] || [ ${#github[@]} -eq 0 ]; then
  echo "check-cicd: no Azure DevOps or GitHub Actions definitions under $PWD" >&2
  exit 1
fi

# The Azure Pipelines schema has patterns the default (unicode) regex engine rejects.
check-jsonschema --regex-variant nonunicode --builtin-schema vendor.azure-pipelines "${azure[@]}"
check-jsonschema --builtin-schema vendor.github-workflows "${github[@]}"
actionlint "${github[@]}"
python "$SCRIPTS/check_cicd_variables.py" "${azure[@]}" "${github[@]}"
echo "check-cicd: ${#azure[@]} Azure DevOps and ${#github[@]} GitHub Actions definitions are valid" >&2
