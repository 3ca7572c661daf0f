#!/usr/bin/env bash
# Runs dagship's main job on the embedded default: the examples/ repository, as a pull request that edits a
# DAG, a dbt model and a job. It builds dagship, installs dbt-core + dbt-duckdb (scripts/dbt-venv.sh), copies
# examples/ into a fresh git repository under ${DAGSHIP_DEMO_DIR:-/tmp/dagship-demo}, deploys main once to
# the local bucket (file://.dagship/bucket) so the environment has dbt state, then runs the pull-request flow
# (detect -> filters -> test matrix -> DAG import check with Airflow from scripts/airflow-venv.sh -> dbt slim
# compile against the bucket's state -> deploy plan), merges and deploys again.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
demo=${DAGSHIP_DEMO_DIR:-/tmp/dagship-demo}

echo "== building dagship (release)"
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
dagship="$here/target/release/dagship"

echo "== installing dbt-core and dbt-duckdb (once, from PyPI)"
PATH="$("$here/scripts/dbt-venv.sh"):$PATH"
export PATH DO_NOT_TRACK=1

echo "== installing apache-airflow (once, from PyPI) for the DAG import check"
airflow_python=$("$here/scripts/airflow-venv.sh")

echo "== making a git repository from examples/ in $demo"
rm -rf "$demo"
mkdir -p "$demo"
cp -R "$here/examples/." "$demo/"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=dagship-demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=dagship-demo GIT_COMMITTER_EMAIL=demo@example.com
git -C "$demo" init -q -b main
git -C "$demo" add -A
git -C "$demo" commit -q -m "The example repository"

echo "== deploy main to the local bucket: DAGs, plugins and the dbt state (manifest, parse cache)"
"$dagship" -C "$demo" deploy --env local

echo "== a pull request: edit a DAG, a dbt model and the brevo job"
git -C "$demo" checkout -q -b feature/orders
printf '\n# retries added in the demo pull request\n' >> "$demo/orchestration/dags/daily_orders.py"
printf '\n-- demo edit\n' >> "$demo/orchestration/dags/dbt_project/models/staging/stg_orders.sql"
printf '\n# demo edit\n' >> "$demo/jobs/etl_jobs/external/brevo/main.py"
git -C "$demo" commit -q -am "Edit orders DAG, staging model and brevo job"

echo "== dagship config check"
"$dagship" -C "$demo" config check >/dev/null

echo "== dagship detect --event pull_request --base-ref main"
"$dagship" -C "$demo" detect --event pull_request --base-ref main

echo "== the test matrix, as JSON for strategy.matrix"
"$dagship" -C "$demo" detect --event pull_request --base-ref main --format json \
  | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["matrix"], indent=2))'

echo "== DAG import check: the DAG files the pull request changed, then the whole DAGs folder"
"$dagship" -C "$demo" dags check --python "$airflow_python" --changed-only --base main
"$dagship" -C "$demo" dags check --python "$airflow_python"

echo "== dbt: compile the changed models against the local environment's state (slim CI)"
"$dagship" -C "$demo" dbt compile --base-ref main

echo "== the deploy plan for the pull request (writes nothing)"
"$dagship" -C "$demo" plan --env local

echo "== merge to main, then deploy to the local bucket"
git -C "$demo" checkout -q main
git -C "$demo" merge -q --no-ff -m "Merge feature/orders" feature/orders
"$dagship" -C "$demo" deploy --env local

echo "== deploy again, same commit: nothing to write (dbt's rebuilt artifacts differ only in their run's stamps)"
"$dagship" -C "$demo" deploy --env local

echo "== the bucket: $demo/.dagship/bucket"
(cd "$demo/.dagship/bucket" && find . -type f | sort)
