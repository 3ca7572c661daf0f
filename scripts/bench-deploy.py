#!/usr/bin/env python3
"""Benchmark `dagship deploy` against `aws s3 sync --delete` and `rclone sync --checksum` (with --fast-list, without
it, and tuned: --fast-list --transfers 32 --checkers 32).

Same files, same servers, one run; the tools take turns within each step (interleaved), so a busy machine slows
them alike. With --latency-ms N every tool reaches the emulators through scripts/delay_proxy.py, which holds each
request N ms (a runner's round trip to a bucket in its region) and with --bandwidth-mbps shares one bandwidth cap.
The listing floor: `rclone lsf -R --fast-list` of the same prefix (one sequential paginated listing, the least any
correct re-sync must pay), timed in every re-sync round. Expects the emulators from scripts/emulators.sh (DAGSHIP_TEST_S3_ENDPOINT,
DAGSHIP_TEST_GCS_ENDPOINT); scripts/bench-deploy.sh starts them. Steps, each tool into its own bucket:

1. first sync of --files generated DAG-sized files (0.5-20 KB) into an empty bucket;
2. no-op re-sync (median of --noop-runs);
3. 1% of the files changed (new sizes), synced from a fresh `git clone` (every mtime newer than the bucket's);
4. 1% same-size edits with the old mtimes put back.
Steps 3 and 4 are repeated --change-runs times (another 1% each round), no-ops --noop-runs times; medians shown.

After every step the bucket is listed and each object's MD5 compared with the local file: a tool that leaves
stale objects is marked WRONG. Prints a Markdown table with each time and its ratio to rclone's.
Python 3.11 standard library only.
"""
from __future__ import annotations

import argparse
import importlib.util
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSHIP = REPO_ROOT / "target" / "release" / "dagship"
SEED = 7000
RCLONE_FLAGS = {
    "rclone": ["--checksum", "--fast-list"],
    "rclone-nofl": ["--checksum"],
    "rclone-tuned": ["--checksum", "--fast-list", "--transfers", "32", "--checkers", "32"],
}


def delay_proxy():
    spec = importlib.util.spec_from_file_location("delay_proxy", Path(__file__).with_name("delay_proxy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def git(repo: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="b@x", GIT_CONFIG_GLOBAL="/dev/null")
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def generate(repo: Path, files: int) -> None:
    rng = random.Random(SEED)
    for index in range(files):
        path = repo / "dags" / f"team_{index % 20:02d}" / f"dag_{index:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.randint(512, 20 * 1024)
        body = f"# dag {index}\n" + "x" * size
        path.write_text(body[:size])


def local_md5s(dags: Path) -> dict[str, str]:
    return {str(p.relative_to(dags)): hashlib.md5(p.read_bytes()).hexdigest() for p in dags.rglob("*") if p.is_file()}


class Tools:
    def __init__(self, aws: str, s3: str, gcs: str, tool_s3: str, tool_gcs: str):
        # s3/gcs: the emulators themselves (setup and checks); tool_*: what the timed tools talk to (the proxy).
        self.aws, self.s3, self.gcs, self.tool_s3, self.tool_gcs = aws, s3, gcs, tool_s3, tool_gcs
        base = dict(os.environ)
        base.pop("AWS_CA_BUNDLE", None)  # rclone from Debian fails with it set
        self.env = dict(base, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                        AWS_DEFAULT_REGION="us-east-1")
        self.env.update({
            "RCLONE_CONFIG_S3R_TYPE": "s3", "RCLONE_CONFIG_S3R_PROVIDER": "Other", "RCLONE_CONFIG_S3R_ENDPOINT": tool_s3,
            "RCLONE_CONFIG_S3R_ACCESS_KEY_ID": "testing", "RCLONE_CONFIG_S3R_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_S3R_REGION": "us-east-1", "RCLONE_CONFIG_S3R_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_GCSR_TYPE": "google cloud storage", "RCLONE_CONFIG_GCSR_ANONYMOUS": "true",
            "RCLONE_CONFIG_GCSR_ENDPOINT": tool_gcs + "/storage/v1/", "RCLONE_CONFIG_GCSR_BUCKET_POLICY_ONLY": "true",
        })

    def make_bucket(self, backend: str, name: str) -> None:
        if backend == "s3":
            run([self.aws, "--endpoint-url", self.s3, "s3", "mb", f"s3://{name}"], env=self.env)
        else:
            request = urllib.request.Request(f"{self.gcs}/storage/v1/b?project=bench", method="POST",
                                             data=json.dumps({"name": name}).encode(),
                                             headers={"content-type": "application/json"})
            urllib.request.urlopen(request).read()

    def remote_md5s(self, backend: str, bucket: str) -> dict[str, str]:
        found: dict[str, str] = {}
        if backend == "s3":
            out = subprocess.run([self.aws, "--endpoint-url", self.s3, "s3api", "list-objects-v2", "--bucket", bucket,
                                  "--prefix", "dags/", "--output", "json"], env=self.env, check=True,
                                 capture_output=True, text=True).stdout
            for item in json.loads(out or "{}").get("Contents", []):
                found[item["Key"][len("dags/"):]] = item["ETag"].strip('"')
        else:
            token = ""
            while True:
                url = f"{self.gcs}/storage/v1/b/{bucket}/o?prefix=dags/" + (f"&pageToken={token}" if token else "")
                page = json.loads(urllib.request.urlopen(url).read())
                for item in page.get("items", []):
                    import base64
                    found[item["name"][len("dags/"):]] = base64.b64decode(item["md5Hash"]).hex()
                token = page.get("nextPageToken", "")
                if not token:
                    break
        return found

    def sync(self, tool: str, backend: str, bucket: str, repo: Path) -> float:
        dags = repo / "dags"
        if tool == "dagship":
            env = dict(self.env)
            if backend == "s3":
                env["AWS_ENDPOINT_URL_S3"] = self.tool_s3
            else:
                env["STORAGE_EMULATOR_HOST"] = self.tool_gcs
            return run([str(DAGSHIP), "-C", str(repo), "deploy", "--env", f"{backend}-{bucket}", "--allow-deletes",
                        "100000"], env=env)
        if tool == "aws":
            return run([self.aws, "--endpoint-url", self.tool_s3, "s3", "sync", str(dags), f"s3://{bucket}/dags/",
                        "--delete", "--only-show-errors"], env=self.env)
        remote = "S3R" if backend == "s3" else "GCSR"
        return run(["rclone", "sync", str(dags), f"{remote}:{bucket}/dags", *RCLONE_FLAGS[tool]], env=self.env)

    def bare_listing(self, backend: str, bucket: str) -> float:
        """The listing floor: one sequential paginated listing of the synced prefix."""
        remote = "S3R" if backend == "s3" else "GCSR"
        return run(["rclone", "lsf", "-R", "--fast-list", "--files-only", f"{remote}:{bucket}/dags"], env=self.env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=7000)
    parser.add_argument("--noop-runs", type=int, default=3)
    parser.add_argument("--change-runs", type=int, default=1, help="rounds of each 1%% step (medians)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="put a delay proxy holding each request this long between every tool and the emulators")
    parser.add_argument("--bandwidth-mbps", type=float, default=0.0, help="with --latency-ms: a shared bandwidth cap")
    parser.add_argument("--aws", default="aws")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dagship-bench-deploy"))
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    s3, gcs = os.environ["DAGSHIP_TEST_S3_ENDPOINT"], os.environ["DAGSHIP_TEST_GCS_ENDPOINT"]
    tool_s3, tool_gcs = s3, gcs
    if args.latency_ms:
        proxy = delay_proxy()
        tool_s3 = proxy.Proxy(s3, args.latency_ms, args.bandwidth_mbps).url
        tool_gcs = proxy.Proxy(gcs, args.latency_ms, args.bandwidth_mbps).url
    tools = Tools(args.aws, s3, gcs, tool_s3, tool_gcs)
    runs = [("dagship", "s3"), ("aws", "s3"), *[(tool, "s3") for tool in RCLONE_FLAGS],
            ("dagship", "gcs"), *[(tool, "gcs") for tool in RCLONE_FLAGS]]
    buckets = {run_: f"bench-{run_[0]}-{run_[1]}-{int(time.time())}" for run_ in runs}
    print(f"latency {args.latency_ms:g} ms, bandwidth cap {args.bandwidth_mbps or 'none'} Mbit/s, "
          f"{args.files} files; load average before: {os.getloadavg()}", flush=True)

    shutil.rmtree(args.workdir, ignore_errors=True)
    origin = args.workdir / "origin"
    (origin / "dags").mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    environments = "\n".join(
        f"  {backend}-{buckets[(tool, backend)]}: {{ platform: {'mwaa' if backend == 's3' else 'composer'}, "
        f"bucket: \"{'s3' if backend == 's3' else 'gs'}://{buckets[(tool, backend)]}\" }}"
        for tool, backend in runs if tool == "dagship")
    (origin / "dagship.yml").write_text(f"dags_dir: dags\nenvironments:\n{environments}\n")
    generate(origin, args.files)
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "dags")
    for (tool, backend), bucket in buckets.items():
        tools.make_bucket(backend, bucket)

    results: dict[tuple[str, str], dict[str, list]] = {run_: {} for run_ in runs}
    floors: dict[str, dict[str, list[float]]] = {"s3": {}, "gcs": {}}

    def step(name: str, repo: Path, repeat: int = 1, floor: bool = True) -> None:
        expected = local_md5s(repo / "dags")
        for _ in range(repeat):
            for run_ in runs:  # interleaved: every tool once per round
                seconds = tools.sync(run_[0], run_[1], buckets[run_], repo)
                results[run_].setdefault(name, []).append(seconds)
                remote = tools.remote_md5s(run_[1], buckets[run_])
                wrong = sum(1 for key, md5 in expected.items() if remote.get(key) != md5)
                wrong += len(remote.keys() - expected.keys())
                results[run_].setdefault(name + "_wrong", []).append(wrong)
                print(f"{name:>13} {run_[0]:>12}/{run_[1]}: {seconds:7.2f}s  wrong objects: {wrong}", flush=True)
            if floor:
                for backend in ("s3", "gcs"):
                    seconds = tools.bare_listing(backend, buckets[("dagship", backend)])
                    floors[backend].setdefault(name, []).append(seconds)
                    print(f"{name:>13} {'bare listing':>12}/{backend}: {seconds:7.2f}s", flush=True)

    step("first", origin, floor=False)
    step("noop", origin, args.noop_runs)

    rng = random.Random(SEED + 1)
    for round_ in range(args.change_runs):
        files = sorted((origin / "dags").rglob("*.py"))
        for path in rng.sample(files, len(files) // 100):
            path.write_text(path.read_text() + "\n# changed: longer now\n")
        git(origin, "commit", "-qam", f"1% changed ({round_})")
        clone = args.workdir / f"clone-{round_}"
        git(args.workdir, "clone", "-q", str(origin), str(clone))
        step("fresh_1pct", clone)

        for path in rng.sample(sorted((clone / "dags").rglob("*.py")), len(files) // 100):
            stat = path.stat()
            text = path.read_text()
            path.write_text(text[:-1] + ("y" if text[-1] != "y" else "z"))
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        git(clone, "commit", "-qam", f"1% same-size edits ({round_})")
        step("samesize_1pct", clone)
        origin = clone  # the next round starts from what was deployed

    print()
    steps = ["first", "noop", "fresh_1pct", "samesize_1pct"]
    print(f"load average after: {os.getloadavg()}; latency {args.latency_ms:g} ms; medians "
          f"(no-op of {args.noop_runs}, 1% steps of {args.change_runs})")
    print("| tool / backend | first sync | no-op re-sync | 1% after fresh checkout | 1% same-size, old mtimes |")
    print("| --- | ---: | ---: | ---: | ---: |")
    median = statistics.median
    for run_ in runs:
        cells = []
        for name in steps:
            seconds = median(results[run_][name])
            reference = median(results[("rclone", run_[1])][name])
            wrong = max(results[run_][name + "_wrong"])
            cell = f"{seconds:.2f} s ({seconds / reference:.2f}x)"
            cells.append(cell + (f" **WRONG: {wrong} stale**" if wrong else ""))
        print(f"| {run_[0]} / {run_[1]} | " + " | ".join(cells) + " |")
    for backend in ("s3", "gcs"):
        cells = ["–"]
        for name in steps[1:]:
            floor = median(floors[backend][name])
            ours = median(results[("dagship", backend)][name])
            cells.append(f"{floor:.2f} s (dagship {ours / floor:.2f}x)")
        print(f"| bare listing / {backend} | " + " | ".join(cells) + " |")
    print("\nratios are to rclone sync --checksum --fast-list on the same backend; the bare-listing rows give dagship's "
          "time as a multiple of `rclone lsf -R --fast-list` of the same prefix")
    if args.json_out:
        out = {f"{t}/{b}": r for (t, b), r in results.items()}
        out.update({f"bare-listing/{backend}": floors[backend] for backend in floors})
        args.json_out.write_text(json.dumps(out, indent=2))

if __name__ == "__main__":
    main()
