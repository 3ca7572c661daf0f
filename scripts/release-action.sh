#!/usr/bin/env bash
# Turns a checkout into a release of the Action (run by .github/workflows/release.yml in the commit it tags):
#   - action.yml runs the bigquery image and adapters/<name>/action.yml the image of each adapter, all by digest,
#     so `uses: <owner>/dagship@v1` (or `.../dagship/adapters/snowflake@v1`) pulls a prebuilt image and starts in
#     seconds instead of building the Dockerfile;
#   - VERSION names the release, which setup/action.yml installs by default;
#   - scripts/install.sh downloads from this repository by default.
# Usage: scripts/release-action.sh IMAGE VERSION REPOSITORY DIGESTS_DIR
#   IMAGE        ghcr.io/<owner>/dagship
#   VERSION      v1.2.3
#   REPOSITORY   <owner>/dagship
#   DIGESTS_DIR  one file per adapter (named like the adapter), holding the image's sha256:... digest
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 IMAGE VERSION REPOSITORY DIGESTS_DIR" >&2; exit 2; }
image=$1 version=$2 repository=$3 digests=$4
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "error: version $version is not vX.Y.Z" >&2; exit 2; }
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || { echo "error: repository $repository is not owner/name" >&2; exit 2; }
grep -qx '  image: Dockerfile' action.yml || { echo "error: action.yml has no '  image: Dockerfile' line to pin" >&2; exit 1; }

digest_of() {
  local file="$digests/$1" digest
  [ -s "$file" ] || { echo "error: no digest for the $1 image ($file)" >&2; exit 1; }
  digest=$(tr -d '[:space:]' <"$file")
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "error: $file does not hold a sha256 digest" >&2; exit 1; }
  echo "$digest"
}

pin() { # adapter output
  local digest
  digest=$(digest_of "$1") || exit 1
  sed "s|^  image: Dockerfile\$|  image: docker://$image@$digest|" action.yml >"$2.partial"
  mv "$2.partial" "$2"
}

while read -r name _package _version _core; do
  case "$name" in '' | '#'*) continue ;; esac
  mkdir -p "adapters/$name"
  pin "$name" "adapters/$name/action.yml"
done <release/adapters.txt
pin bigquery action.yml
echo "$version" >VERSION
sed -i "s|^default_repository=.*|default_repository=$repository|" scripts/install.sh
echo "pinned action.yml and adapters/*/action.yml to $image by digest for $version" >&2
