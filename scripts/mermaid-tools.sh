#!/usr/bin/env bash
# Installs what tests/it/mermaid.rs needs to render the pull request comment's Mermaid blocks the way a browser
# does, and prints the folder holding them (DAGSHIP_TEST_MERMAID_DIR):
# - Debian's `chromium` package (apt-get, as root) when /usr/bin/chromium is missing; the tests drive it with
#   playwright-core (a test tool's own browser download does not work on these machines);
# - the npm packages pinned in scripts/mermaid/package.json + package-lock.json (mermaid, marked, playwright-core),
#   installed with `npm ci` into $DAGSHIP_TOOLS_DIR/mermaid.
# Quick when already installed: npm runs only when the lock file differs from the one last installed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools=${DAGSHIP_TOOLS_DIR:-$here/target/test-tools}
dir="$tools/mermaid"
chromium=${DAGSHIP_TEST_CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: $chromium is missing and only root can install it: run 'apt-get install chromium' as root," \
      "or set DAGSHIP_TEST_CHROMIUM to a Chromium executable" >&2
    exit 1
  fi
  echo "installing Debian's chromium package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
fi

for tool in node npm; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool is missing: the Mermaid render test needs Node.js 20 or newer and npm" >&2
    exit 1
  }
done

if ! cmp -s "$here/scripts/mermaid/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules" ]; then
  echo "installing mermaid, marked and playwright-core (npm ci, pinned by scripts/mermaid/package-lock.json)" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$here/scripts/mermaid/package.json" "$here/scripts/mermaid/package-lock.json" "$dir/"
  # --ignore-scripts: no package may run an install script (playwright-core's would fetch a browser).
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dir"
