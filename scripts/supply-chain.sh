#!/usr/bin/env bash
# Supply-chain checks (README "Reliability"): cargo-deny (licenses, bans, sources, advisories) with deny.toml,
# and cargo-audit. Installs both (pinned, --locked) into $DAGSHIP_CARGO_TOOLS (default: cargo's own home, so a
# fresh clone on the same machine does not build them again) when missing.
#
# licenses, bans and sources need no network and always run. The advisory checks need the RustSec database:
#   - DAGSHIP_ADVISORY_DB=/path/to/advisory-db uses a local copy of rustsec/advisory-db; when unset, the snapshot
#     in ../shared/advisory-db beside the repository is used if it exists (these machines cannot reach GitHub);
#   - otherwise they fetch it when github.com answers, and fail the script if the checks fail;
#   - when github.com does not answer (machines whose network reaches only the package registries) they are not
#     run, with a ::warning:: saying so, unless DAGSHIP_REQUIRE_ADVISORIES=1 (set in .github/workflows/ci.yml),
#     which turns that into a failure. DAGSHIP_SKIP_ADVISORIES=1 skips them knowingly.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cargo_tools=${DAGSHIP_CARGO_TOOLS:-${CARGO_HOME:-$HOME/.cargo}}
bin="$cargo_tools/bin"
deny_version=0.20.2
audit_version=0.22.2

install() { # crate version binary
  if [ ! -x "$bin/$3" ] || ! "$bin/$3" "${3#cargo-}" --version 2>/dev/null | grep -q "$2"; then
    echo "installing $1 $2 into $cargo_tools (once per machine; about 8 minutes on 2 cores)" >&2
    cargo install --quiet --locked "$1@$2" --root "$cargo_tools"
  fi
}
install cargo-deny "$deny_version" cargo-deny

echo "cargo deny: licenses, bans, sources (offline)"
# cargo deny reads the whole graph, other platforms' crates included: fetch them from the default registry first, so that
# its offline `cargo metadata` finds every one.
cargo fetch --locked --quiet
"$bin/cargo-deny" deny --offline check --hide-inclusion-graph licenses bans sources

if [ -z "${DAGSHIP_ADVISORY_DB:-}" ] && [ -d "$here/../shared/advisory-db/crates" ]; then
  DAGSHIP_ADVISORY_DB=$(cd "$here/../shared/advisory-db" && pwd)
  echo "using the RustSec advisory snapshot in $DAGSHIP_ADVISORY_DB (../shared/advisory-db.md)"
fi
if [ "${DAGSHIP_SKIP_ADVISORIES:-}" = "1" ]; then
  echo "::warning::SKIPPED the advisory checks (cargo deny advisories, cargo audit): DAGSHIP_SKIP_ADVISORIES=1 marks" \
    "this machine as unable to reach the RustSec database on GitHub. Run them where GitHub is reachable." >&2
  exit 0
fi
if [ -z "${DAGSHIP_ADVISORY_DB:-}" ] &&
  ! timeout 20 git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  if [ "${DAGSHIP_REQUIRE_ADVISORIES:-}" = "1" ]; then
    echo "error: github.com is unreachable, so the RustSec advisory database cannot be fetched" \
      "(DAGSHIP_REQUIRE_ADVISORIES=1)" >&2
    exit 1
  fi
  echo "::warning::NOT RUN: the advisory checks (cargo deny advisories, cargo audit). github.com is unreachable" \
    "from this machine, so the RustSec database cannot be fetched; .github/workflows/ci.yml runs them" \
    "(DAGSHIP_REQUIRE_ADVISORIES=1), or set DAGSHIP_ADVISORY_DB to a local clone." >&2
  exit 0
fi
# cargo-audit only reads advisories: installed when they can run.
install cargo-audit "$audit_version" cargo-audit

if [ -n "${DAGSHIP_ADVISORY_DB:-}" ]; then
  # cargo-audit reads a local clone directly; cargo-deny's advisories check reads the same database, so one
  # of them is enough here.
  echo "cargo audit: advisories from the local database $DAGSHIP_ADVISORY_DB"
  "$bin/cargo-audit" audit --db "$DAGSHIP_ADVISORY_DB" --no-fetch --deny warnings
else
  echo "cargo deny / cargo audit: advisories (fetching the RustSec database from GitHub)"
  if ! "$bin/cargo-deny" deny check advisories || ! "$bin/cargo-audit" audit --deny warnings; then
    echo "error: the advisory checks failed (above). If this machine cannot reach github.com, set" \
      "DAGSHIP_ADVISORY_DB=<a clone of rustsec/advisory-db> or, knowingly, DAGSHIP_SKIP_ADVISORIES=1" >&2
    exit 1
  fi
fi
