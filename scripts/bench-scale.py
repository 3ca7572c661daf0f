#!/usr/bin/env python3
"""Scale benchmark: the no-op re-sync of a `data/` folder of 1,000 / 10,000 / 100,000 objects, its wall time and
peak memory (GNU time's maximum resident set size), median of --runs.

Each size is its own repository (data/part_NNN/file_NNNNNN.csv, 100-300 bytes each, 1,000 per folder) and its own
bucket. The bucket is seeded by dagship's own first deploy (the cheapest correct way: parallel uploads that the
marker then vouches for), then re-synced --runs times with nothing changed. --backend file (a directory), s3 (moto,
DAGSHIP_TEST_S3_ENDPOINT) or gcs (the GCS emulator, DAGSHIP_TEST_GCS_ENDPOINT); --latency-ms puts
scripts/delay_proxy.py in front of the emulator. Needs target/release/dagship. Python 3.11 standard library only.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSHIP = REPO_ROOT / "target" / "release" / "dagship"
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="b@x", GIT_CONFIG_GLOBAL="/dev/null")


def make_repo(repo: Path, files: int, bucket_url: str) -> None:
    (repo / "dags").mkdir(parents=True)
    (repo / "dags" / "dag.py").write_text("# a dag\n")
    for index in range(files):
        folder = repo / "data" / f"part_{index // 1000:03d}"
        if index % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"file_{index:06d}.csv").write_text(f"id,value\n{index},{'v' * (100 + index % 200)}\n")
    platform = {"s3": "mwaa", "gs": "composer"}.get(bucket_url.split(":")[0], "local")
    (repo / "dagship.yml").write_text(
        f"dags_dir: dags\ndata_dir: data\nenvironments:\n  bench: {{ platform: {platform}, bucket: \"{bucket_url}\" }}\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "data"]):
        subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True)


def timed_deploy(repo: Path, env: dict) -> tuple[float, int, dict]:
    """Wall seconds, peak RSS in KiB and the JSON report of one `dagship deploy`."""
    result = subprocess.run(["/usr/bin/time", "-v", str(DAGSHIP), "-C", str(repo), "deploy", "--env", "bench",
                             "--format", "json", "--allow-deletes", "1000000"],
                            env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"deploy failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return seconds, rss, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backend", choices=["file", "s3", "gcs"], default="file")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dagship-bench-scale"))
    args = parser.parse_args()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    env.pop("AWS_CA_BUNDLE", None)
    endpoint = None
    if args.backend != "file":
        endpoint = os.environ["DAGSHIP_TEST_S3_ENDPOINT" if args.backend == "s3" else "DAGSHIP_TEST_GCS_ENDPOINT"]
        tool_endpoint = endpoint
        if args.latency_ms:
            spec = importlib.util.spec_from_file_location("delay_proxy", Path(__file__).with_name("delay_proxy.py"))
            proxy = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(proxy)
            tool_endpoint = proxy.Proxy(endpoint, args.latency_ms).url
        env["AWS_ENDPOINT_URL_S3" if args.backend == "s3" else "STORAGE_EMULATOR_HOST"] = tool_endpoint
    shutil.rmtree(args.workdir, ignore_errors=True)
    rows = []
    print(f"backend {args.backend}, latency {args.latency_ms:g} ms, load average {os.getloadavg()}", flush=True)
    for size in [int(size) for size in args.sizes.split(",")]:
        name = f"bench-scale-{size}-{int(time.time())}"
        if args.backend == "file":
            bucket_url = f"file://{args.workdir / 'buckets' / name}"
        elif args.backend == "s3":
            subprocess.run(["python3", "-c", "import sys, urllib.request; urllib.request.urlopen(urllib.request."
                            "Request(sys.argv[1], method='PUT')).read()", f"{endpoint}/{name}"], check=True)
            bucket_url = f"s3://{name}"
        else:
            request = urllib.request.Request(f"{endpoint}/storage/v1/b?project=bench", method="POST",
                                             data=json.dumps({"name": name}).encode(),
                                             headers={"content-type": "application/json"})
            urllib.request.urlopen(request).read()
            bucket_url = f"gs://{name}"
        repo = args.workdir / f"repo-{size}"
        make_repo(repo, size, bucket_url)
        seed_seconds, seed_rss, _ = timed_deploy(repo, env)
        print(f"{size:>7} objects: seeded by dagship's first deploy in {seed_seconds:.1f} s "
              f"(peak RSS {seed_rss / 1024:.0f} MiB)", flush=True)
        runs = []
        for _ in range(args.runs):
            seconds, rss, report = timed_deploy(repo, env)
            if not report.get("up_to_date"):
                sys.exit(f"the re-sync of {size} objects was not a no-op: {report.get('plan', {}).get('summary')}")
            runs.append((seconds, rss))
            print(f"{size:>7} objects: no-op {seconds:.2f} s, peak RSS {rss / 1024:.0f} MiB", flush=True)
        rows.append((size, statistics.median(r[0] for r in runs), max(r[1] for r in runs), seed_seconds))
    print(f"\nload average after: {os.getloadavg()}")
    print(f"| objects ({args.backend}, {args.latency_ms:g} ms) | no-op re-sync (median of {args.runs}) | "
          "per 1,000 objects | peak RSS (max) | first deploy (seed) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size, seconds, rss, seed in rows:
        print(f"| {size:,} | {seconds:.2f} s | {seconds / size * 1000:.3f} s | {rss / 1024:.0f} MiB | {seed:.1f} s |")


if __name__ == "__main__":
    main()
