#!/usr/bin/env bash
# Builds the release binary, then runs the detect benchmark (see scripts/bench-detect.py --help).
# Every argument goes to the Python script, e.g. scripts/bench-detect.sh --workdir /tmp/dagship-bench --runs 11
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo build --release --manifest-path "$root/Cargo.toml"
exec python3 "$root/scripts/bench-detect.py" "$@"
