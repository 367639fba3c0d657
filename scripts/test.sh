#!/usr/bin/env bash
# Runs every test. Installs what the tests need first, idempotently:
#   - a Python virtualenv (.venv) with the pinned reference packages (scripts/requirements-test.txt)
#   - a second one (.venv-azureml) with the official azureml-mlflow plugin (scripts/requirements-azureml.txt)
#   - Azurite, the Azure Storage emulator, from npm into .test-tools (the blob request-log tests
#     start it themselves on a free 127.0.0.1 port)
#   - Debian packages for the image tests (tests/e2e/image.rs): docker-registry (a registry the
#     tests run on a free port), skopeo and umoci (read the pushed image back, unpack it) and
#     apache2-utils (htpasswd for the Basic sign-in test)
#   - strace (Debian package), which the kill -9 tests use to kill at chosen syscalls
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MLOPS_TEST_VENV:-$PWD/.venv}"
REQUIREMENTS=scripts/requirements-test.txt

if ! cmp -s "$REQUIREMENTS" "$VENV/.installed-requirements" 2>/dev/null; then
  echo "== installing the test virtualenv in $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/.installed-requirements"
fi

# The official azureml-mlflow plugin pins an older mlflow than the main virtualenv, so it has its own.
AZUREML_VENV="${MLOPS_TEST_AZUREML_VENV:-$PWD/.venv-azureml}"
AZUREML_REQUIREMENTS=scripts/requirements-azureml.txt
if ! cmp -s "$AZUREML_REQUIREMENTS" "$AZUREML_VENV/.installed-requirements" 2>/dev/null; then
  echo "== installing the azureml-mlflow virtualenv in $AZUREML_VENV" >&2
  python3 -m venv "$AZUREML_VENV"
  "$AZUREML_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$AZUREML_VENV/bin/python" -m pip install --quiet -r "$AZUREML_REQUIREMENTS"
  cp "$AZUREML_REQUIREMENTS" "$AZUREML_VENV/.installed-requirements"
fi

TOOLS="$PWD/.test-tools"
AZURITE_VERSION=3.35.0
if [ "$(cat "$TOOLS/.azurite-version" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  echo "== installing Azurite $AZURITE_VERSION in $TOOLS" >&2
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION"
  echo "$AZURITE_VERSION" > "$TOOLS/.azurite-version"
fi

export MLOPS_TEST_PYTHON="$VENV/bin/python"
export MLOPS_TEST_AZUREML_PYTHON="$AZUREML_VENV/bin/python"
export MLOPS_TEST_AZURITE="$TOOLS/node_modules/.bin/azurite-blob"
export PATH="$VENV/bin:$PATH"

# The image tests' registry and readers; strace delivers the kill -9 of the durability tests
# (tests/e2e/kill9.rs) at chosen syscalls.
DEBIAN_PACKAGES=(docker-registry skopeo umoci apache2-utils strace)
missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (apt-get)" >&2
  SUDO=()
  [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  # The package's own service is not wanted: the tests start registries themselves.
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

echo "== CI/CD definitions (check-jsonschema, actionlint)" >&2
scripts/check-cicd.sh

echo "== cargo test" >&2
cargo test --locked --all-targets "$@"
