#!/bin/bash
# Rollback of a 2,000-file environment vs git revert + deploy. Usage: scripts/bench-rollback.sh s3|local
# (s3 needs DAGSHIP_TEST_S3_ENDPOINT: the moto server of scripts/emulators.sh). DAGSHIP: the binary to time.
# A: 2,000 DAG files (~1 KB); B: 200 edited, 50 added, 50 deleted. Times `dagship rollback` (B -> A), then, from
# B again, `git revert HEAD` + `dagship deploy` (the same change the way a team without rollback makes it).
set -e
BIN=${DAGSHIP:-target/debug/dagship}; BIN=$(realpath "$BIN")
BACKEND=$1
W=$(mktemp -d)
cd $W
git init -q -b main repo && cd repo
export GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e
if [ "$BACKEND" = s3 ]; then
  NAME=hist-bench-$RANDOM$RANDOM
  python3 - <<PY
import urllib.request
req = urllib.request.Request("$DAGSHIP_TEST_S3_ENDPOINT/$NAME", method="PUT")
urllib.request.urlopen(req).read()
PY
  URL="s3://$NAME/airflow"; PLATFORM=mwaa
  export AWS_ENDPOINT_URL_S3=$DAGSHIP_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
else
  URL="file://$W/bucket"; PLATFORM=local
fi
printf 'dags_dir: dags\nenvironments:\n  test: { platform: %s, bucket: "%s" }\ndeploy:\n  max_delete: 100%%\n' $PLATFORM $URL > dagship.yml
python3 - <<'PY'
import os
os.makedirs("dags", exist_ok=True)
for i in range(2000):
    d = f"dags/team_{i % 20:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/dag_{i:04d}.py", "w").write(f"# dag {i}\n" + "x = 1\n" * 150)
PY
git add -A && git commit -qm A
$BIN deploy --env test >/dev/null 2>&1
python3 - <<'PY'
import os
for i in range(0, 2000, 10):
    d = f"dags/team_{i % 20:02d}"
    open(f"{d}/dag_{i:04d}.py", "a").write("y = 2\n")
for i in range(2000, 2050):
    os.makedirs("dags/new", exist_ok=True)
    open(f"dags/new/dag_{i}.py", "w").write(f"# new {i}\n")
for i in range(1, 2000, 40):
    os.remove(f"dags/team_{i % 20:02d}/dag_{i:04d}.py")
PY
git add -A && git commit -qm B
$BIN deploy --env test >/dev/null 2>&1
$BIN history --env test --limit 3; s=$(date +%s.%N); $BIN rollback --env test > rb.txt 2>&1; e=$(date +%s.%N)
echo "$BACKEND rollback to A: $(echo "$e - $s" | bc) s"; grep -E "^upload|^delete|deployed commit" rb.txt | head -5
$BIN rollback --env test >/dev/null 2>&1   # back to B
s=$(date +%s.%N); git revert --no-edit HEAD >/dev/null; m=$(date +%s.%N); $BIN deploy --env test > rv.txt 2>&1; e=$(date +%s.%N)
echo "$BACKEND git revert + deploy: $(echo "$e - $s" | bc) s (git revert $(echo "$m - $s" | bc) s, deploy $(echo "$e - $m" | bc) s)"; grep -E "^upload|^delete|deployed commit" rv.txt | head -5
rm -rf $W
