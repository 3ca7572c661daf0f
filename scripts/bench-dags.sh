#!/usr/bin/env bash
# DAG import check benchmark: `dagship dags check` vs the peer every team writes by hand, a plain
# `python -c 'DagBag(...)'` run, on the examples' DAGs and on N generated DAG files. Installs Airflow from PyPI
# (scripts/airflow-venv.sh) when missing and builds dagship release. Arguments go to scripts/bench-dags.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=$("$root/scripts/airflow-venv.sh")
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
python3 "$root/scripts/bench-dags.py" --dagship "$root/target/release/dagship" --python "$python" \
  --examples "$root/examples" "$@"
