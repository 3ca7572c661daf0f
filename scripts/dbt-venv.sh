#!/usr/bin/env bash
# Installs dbt-core and dbt-duckdb from PyPI into $DAGSHIP_TOOLS_DIR/dbt-venv (once) and prints its bin folder.
# The tests (DAGSHIP_TEST_DBT_BIN), the demo and the dbt benchmark share it.
# (1.11: the 1.12 line does not install offline from the PyPI mirror these machines use.)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools=${DAGSHIP_TOOLS_DIR:-$here/target/test-tools}
venv="$tools/dbt-venv"

if [ ! -x "$venv/bin/dbt" ]; then
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'dbt-core~=1.11.0' 'dbt-duckdb~=1.11.0' >&2
fi
echo "$venv/bin"
