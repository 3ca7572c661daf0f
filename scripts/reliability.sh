#!/usr/bin/env bash
# The figures of the README's "Reliability" table, from one run of the tests behind its rows: the engine's unit
# and property tests on the in-memory store, and the integration tests (module filters of the one test binary).
# Needs what `cargo test` needs for them: the storage emulators' variables, dbt and Airflow (scripts/test.sh sets
# them up; this script neither starts nor stops anything). Prints every test's result and every `figure:` line the
# tests print; the whole log goes to target/reliability.log. Exits non-zero when any of the tests failed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
log=${CARGO_TARGET_DIR:-$here/target}/reliability.log
mkdir -p "$(dirname "$log")"

# One filter per row group of the table (libtest runs every test whose name holds any of them).
rows=(
  fault_injection:: request_timeouts:: crash_recovery:: concurrent_deploys:: hostile_input:: secrets::
  deploy:: deploy_reliability:: properties:: verify::a_parse_from_before mwaa::plugins_zip_holds history::
)

started=$SECONDS
status=0
{
  cargo test --lib deploy::model_tests -- --nocapture || status=$?
  cargo test --test it -- --nocapture "${rows[@]}" || status=$?
} >"$log" 2>&1 || status=$?
grep -E '^(figure: |test .* \.\.\. |test result: )' "$log" || true
echo "reliability run: $((SECONDS - started)) s, exit $status, log in $log"
exit "$status"
