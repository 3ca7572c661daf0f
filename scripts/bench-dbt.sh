#!/usr/bin/env bash
# dbt slim CI benchmark: a full `dbt compile` vs `dagship dbt compile` (state and parse cache from the bucket) vs
# the same dbt commands run by hand, on a generated DuckDB project. Installs dbt-core and dbt-duckdb from PyPI
# (scripts/dbt-venv.sh) when missing and builds dagship release. Arguments go to scripts/bench-dbt.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dbt_bin=$("$root/scripts/dbt-venv.sh")
cargo build --release --manifest-path "$root/Cargo.toml"
python3 "$root/scripts/bench-dbt.py" --dagship "$root/target/release/dagship" --dbt-bin "$dbt_bin" "$@"
