#!/bin/sh
# Installs a released dagship binary, verified against the release's SHA256SUMS, into $DAGSHIP_INSTALL_DIR
# (default ~/.local/bin). Laptops:
#   curl -fsSLO https://github.com/<owner>/dagship/releases/download/v1.2.3/install.sh && sh install.sh v1.2.3
# setup/action.yml runs it on GitHub's runners. Provenance: `gh attestation verify <binary> --repo <owner>/dagship`.
# Variables: DAGSHIP_REPOSITORY (owner/name), DAGSHIP_RELEASE_URL (a mirror: <url>/<version>/<asset>),
# DAGSHIP_INSTALL_DIR. Nothing is installed unless the checksum matches.
set -eu

default_repository=
version=${1:-${DAGSHIP_VERSION:-}}
repository=${DAGSHIP_REPOSITORY:-$default_repository}
install_dir=${DAGSHIP_INSTALL_DIR:-$HOME/.local/bin}

fail() { echo "dagship install: error: $*" >&2; exit 1; }

case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) fail "give the release to install, like v1.2.3 (got '${version}')" ;;
esac
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  *) fail "no prebuilt binary for $(uname -s) $(uname -m): install from source with \`cargo install --locked --git https://github.com/${repository:-<owner>/dagship} --tag $version\`" ;;
esac
if [ -n "${DAGSHIP_RELEASE_URL:-}" ]; then
  base="$DAGSHIP_RELEASE_URL/$version"
else
  [ -n "$repository" ] || fail "set DAGSHIP_REPOSITORY=<owner>/dagship"
  base="https://github.com/$repository/releases/download/$version"
fi

asset="dagship-$target"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
curl -fsSL --retry 3 -o "$scratch/$asset" "$base/$asset" || fail "cannot download $base/$asset"
curl -fsSL --retry 3 -o "$scratch/SHA256SUMS" "$base/SHA256SUMS" || fail "cannot download $base/SHA256SUMS"
expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$scratch/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS of $version has no line for $asset"
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$scratch/$asset" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$scratch/$asset" | awk '{ print $1 }')
fi
[ "$actual" = "$expected" ] || fail "checksum mismatch for $asset: expected $expected, got $actual; nothing installed"

mkdir -p "$install_dir"
chmod 0755 "$scratch/$asset"
mv "$scratch/$asset" "$install_dir/dagship"
echo "installed dagship $version ($target, sha256 $actual) to $install_dir/dagship" >&2
case ":$PATH:" in
  *":$install_dir:"*) ;;
  *) echo "add $install_dir to PATH to run it" >&2 ;;
esac
