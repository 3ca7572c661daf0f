#!/usr/bin/env bash
# Installs apache-airflow from PyPI into $DAGSHIP_TOOLS_DIR/airflow-venv (once) and prints its python, with the
# KubernetesPod provider and astronomer-cosmos (the DAG styles the impact tests import; both only add packages
# to Airflow's set, measured with pip --dry-run).
# The tests (DAGSHIP_TEST_AIRFLOW_PYTHON), the demo and the DAG check benchmark share it.
# Pinned to one exact version and resolved by pip: Airflow's constraint files live on GitHub, which these
# machines cannot reach. A cold install took 1m46s on a 2-core machine (3.1.8, Python 3.11).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools=${DAGSHIP_TOOLS_DIR:-$here/target/test-tools}
venv="$tools/airflow-venv"
version=3.1.8
extras=(apache-airflow-providers-cncf-kubernetes==10.25.0 astronomer-cosmos==1.15.1)

if ! "$venv/bin/python" -c "import airflow, sys; sys.exit(airflow.__version__ != '$version')" 2>/dev/null; then
  mkdir -p "$tools"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==$version" >&2
fi
if ! "$venv/bin/python" -c "import cosmos, airflow.providers.cncf.kubernetes" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==$version" "${extras[@]}" >&2
fi
echo "$venv/bin/python"
