#!/usr/bin/env bash
# Deploy benchmark: dagship deploy vs `aws s3 sync --delete` and `rclone sync --checksum --fast-list`, against
# the moto S3 server and (dagship, rclone) the GCS emulator, all on 127.0.0.1. Installs awscli from PyPI into
# target/bench-tools and rclone from Debian's packages when missing. Arguments go to scripts/bench-deploy.py, e.g.
# `scripts/bench-deploy.sh --latency-ms 20 --noop-runs 5 --change-runs 3`: every tool then reaches the emulators
# through scripts/delay_proxy.py (20 ms per request; --bandwidth-mbps N adds a shared cap), and each re-sync is
# also put against the bare listing of the same prefix.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/target/bench-tools"
mkdir -p "$tools"
if [ ! -x "$tools/awscli/bin/aws" ]; then
  python3 -m venv "$tools/awscli"
  "$tools/awscli/bin/pip" install --quiet --disable-pip-version-check 'awscli==1.*'
fi
if ! command -v rclone >/dev/null; then
  apt-get install -y -q rclone >/dev/null || sudo apt-get install -y -q rclone >/dev/null
fi
cargo build --release --manifest-path "$root/Cargo.toml"
DAGSHIP_TOOLS_DIR="$tools" "$root/scripts/emulators.sh" start >"$tools/emulators.env"
trap 'DAGSHIP_TOOLS_DIR="$tools" "$root/scripts/emulators.sh" stop' EXIT
# shellcheck disable=SC1091
source "$tools/emulators.env"
python3 "$root/scripts/bench-deploy.py" --aws "$tools/awscli/bin/aws" "$@"
