#!/usr/bin/env bash
# dbt slim CI benchmark: a full `dbt compile` vs `dagship dbt compile` (state and parse cache from the bucket) vs
# the same dbt commands run by hand, on a generated DuckDB project. Installs dbt-core and dbt-duckdb from PyPI
# into target/test-tools/dbt-venv when missing and builds dagship release. Arguments go to scripts/bench-dbt.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools=${DAGSHIP_TOOLS_DIR:-$root/target/test-tools}
mkdir -p "$tools"
if [ ! -x "$tools/dbt-venv/bin/dbt" ]; then
  python3 -m venv "$tools/dbt-venv"
  "$tools/dbt-venv/bin/pip" install --quiet --disable-pip-version-check 'dbt-core~=1.11.0' 'dbt-duckdb~=1.11.0'
fi
cargo build --release --manifest-path "$root/Cargo.toml"
python3 "$root/scripts/bench-dbt.py" --dagship "$root/target/release/dagship" --dbt-bin "$tools/dbt-venv/bin" "$@"
