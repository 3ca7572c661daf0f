#!/usr/bin/env bash
# Starts the storage emulators the tests run against, on 127.0.0.1 and free ports:
#   moto server (S3) and gcp-storage-emulator (GCS), each from its own venv (PyPI).
# Usage: scripts/emulators.sh start > env; source env   -> exports DAGSHIP_TEST_S3_ENDPOINT, DAGSHIP_TEST_GCS_ENDPOINT
#        scripts/emulators.sh stop
# State (pids, logs, the GCS emulator's files) lives in $DAGSHIP_TOOLS_DIR/emulators.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools=${DAGSHIP_TOOLS_DIR:-$here/target/test-tools}
state="$tools/emulators"

install() {
  if [ ! -x "$tools/emulators-venv/bin/moto_server" ] || [ ! -x "$tools/emulators-venv/bin/gcp-storage-emulator" ]; then
    python3 -m venv "$tools/emulators-venv"
    "$tools/emulators-venv/bin/pip" install --quiet --disable-pip-version-check \
      'moto[server]==5.*' 'gcp-storage-emulator==2026.*' >&2
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # url name log
  for _ in $(seq 1 100); do
    if python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass
' "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "the $2 emulator did not start; its log:" >&2
  cat "$3" >&2
  exit 1
}

stop() {
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

start() {
  install
  stop
  mkdir -p "$state/gcs-data"
  local s3_port gcs_port
  s3_port=$(free_port)
  gcs_port=$(free_port)
  # The recorder (off until a test turns it on) lets the phase-order test read the requests in arrival order.
  MOTO_RECORDER_FILEPATH="$state/moto_recording" "$tools/emulators-venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" \
    >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  # In memory, through a launcher that skips the emulator's per-write snapshot of all metadata (quadratic in
  # objects otherwise; see scripts/gcs-emulator.py).
  (cd "$state/gcs-data" && exec "$tools/emulators-venv/bin/python" "$here/scripts/gcs-emulator.py" \
    start -H 127.0.0.1 --port "$gcs_port" --in-memory -q) >"$state/gcs.log" 2>&1 &
  echo $! >"$state/gcs.pid"
  wait_for "http://127.0.0.1:$s3_port/" S3 "$state/moto.log"
  wait_for "http://127.0.0.1:$gcs_port/storage/v1/b" GCS "$state/gcs.log"
  echo "export DAGSHIP_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port"
  echo "export DAGSHIP_TEST_GCS_ENDPOINT=http://127.0.0.1:$gcs_port"
  # Credentials for the moto server only (it accepts any); AWS_PROFILE would override them.
  echo "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
  echo "unset AWS_PROFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
