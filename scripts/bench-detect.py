#!/usr/bin/env python3
"""Benchmark `dagship detect --format json` against the `git diff` it wraps.

dagship's change detection is one `git diff --name-status -z -M` plus one `git ls-tree` (for job folders),
run side by side, then parsing, glob filters and JSON. The goal is that all of that costs at most 1.3x the
bare `git diff` on a large repository, so this script:

1. builds (once; reused with --workdir) a synthetic data repository with --files files and a second commit
   that changes --changed of them (modifications, renames with small edits, deletions, additions);
2. times both commands, interleaved, recording wall time and peak RSS of each child process;
3. checks once that dagship reports exactly the changes git reports;
4. prints a Markdown table and PASS/FAIL against the goal (and writes JSON with --json-out).

Python 3.11 standard library only. Linux-oriented: peak RSS comes from wait4(), in KiB on Linux.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

GOAL_RATIO = 1.3
# Bump when the generated repository changes shape, so a stale --workdir is rebuilt instead of reused.
GENERATOR_VERSION = 1
MARKER_NAME = "bench-detect-ready.json"
SEED = 20240601

REPO_ROOT = Path(__file__).resolve().parent.parent

# Fixed identity and no user/system config: the repository and the timings must not depend on the machine.
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "1700000000 +0000",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_COMMITTER_DATE": "1700000000 +0000",
}

# `jobs` is a reserved filter name in dagship, hence `job_files`. `chunk: true` because a large change touches
# most job folders (246 of ~250 by default), and past GitHub's 256 matrix entries dagship refuses without it.
DAGSHIP_YML = """\
dags_dir: orchestration/dags
filters:
  dbt: ["orchestration/dags/dbt/**"]
  orchestration: ["orchestration/**", "!**/*.md"]
  job_files: ["jobs/**"]
jobs:
  roots: ["jobs/etl_jobs/**"]
  marker: tests
  chunk: true
"""

GROUPS = ["finance", "marketing", "sales", "ops", "product", "risk", "supply", "growth", "billing", "crm"]
TEAMS = ["core", "ingest", "reporting", "ml", "exports", "quality"]
DBT_LAYERS = ["staging", "intermediate", "marts"]
DBT_DOMAINS = ["orders", "customers", "payments", "inventory", "web", "ads", "support", "hr"]
DATA_SOURCES = ["crm_export", "web_events", "ledger", "ads_spend", "warehouse", "iot"]

# One short line per extension, the only content files share: small enough (<25% of a file) that unrelated
# additions and deletions never pair up as renames.
BOILERPLATE = {
    ".py": "import os\n",
    ".sql": "select 1\n",
    ".yml": "version: 2\n",
    ".yaml": "enabled: true\n",
    ".json": "{}\n",
    ".csv": "id,value\n",
    ".md": "# notes\n",
    ".txt": "pandas\n",
}


# --------------------------------------------------------------------------------------------- repository


def file_content(uid: int, path: str, revision: int = 1) -> bytes:
    """A few dozen bytes, unique per file (two unique lines) so git must compare contents to find renames."""
    digest = hashlib.blake2b(f"{uid}:{revision}".encode(), digest_size=8).hexdigest()
    boiler = BOILERPLATE.get(Path(path).suffix, "\n")
    return f"# bench file {uid:07d}\nkey_{uid:07d} = '{digest}'\n{boiler}".encode()


class PathPlanner:
    """Hands out unique paths area by area, so the tree looks like an Airflow + dbt + jobs monorepo."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.paths: list[str] = []
        self.taken: set[str] = set()

    def add(self, path: str) -> None:
        if path not in self.taken and len(self.paths) < self.total:
            self.taken.add(path)
            self.paths.append(path)

    def jobs(self, quota: int) -> None:
        """A few hundred job folders; three in four have a `tests/` folder (the job marker), some sit deeper."""
        job_count = max(2, self.total // 300)
        per_job = max(4, quota // job_count)
        for index in range(job_count):
            group = GROUPS[index % len(GROUPS)]
            name = f"{group}_job_{index:04d}"
            folder = f"jobs/etl_jobs/{group}/legacy/{name}" if index % 10 == 9 else f"jobs/etl_jobs/{group}/{name}"
            has_tests = index % 4 != 3
            files = ["main.py", "config.yaml", "requirements.txt"]
            if has_tests:
                files += ["tests/__init__.py", "tests/test_main.py"]
            extra = 0
            while len(files) < per_job:
                kind = extra % 4
                if kind == 0:
                    files.append(f"src/module_{extra:03d}.py")
                elif kind == 1:
                    files.append(f"sql/query_{extra:03d}.sql")
                elif kind == 2 and has_tests:
                    files.append(f"tests/fixtures/case_{extra:03d}.json")
                else:
                    files.append(f"resources/lookup_{extra:03d}.csv")
                extra += 1
            for name_in_job in files:
                self.add(f"{folder}/{name_in_job}")
        for index in range(max(1, quota // 50)):  # shared library code under the roots, not a job
            self.add(f"jobs/etl_jobs/common/lib/helpers_{index:03d}.py")

    def dags(self, quota: int) -> None:
        """Airflow DAG files per team, a README each (excluded by the `!**/*.md` glob), and plugins."""
        for team in TEAMS:
            self.add(f"orchestration/dags/{team}/README.md")
        for index in range(quota):
            team = TEAMS[index % len(TEAMS)]
            if index % 20 == 19:
                self.add(f"orchestration/plugins/operators/operator_{index:05d}.py")
            else:
                self.add(f"orchestration/dags/{team}/dag_{team}_{index:05d}.py")

    def dbt(self, quota: int) -> None:
        """dbt models (.sql + .yml) by layer and domain, plus macros and seeds."""
        self.add("orchestration/dags/dbt/dbt_project.yml")
        for index in range(quota):
            layer = DBT_LAYERS[index % len(DBT_LAYERS)]
            domain = DBT_DOMAINS[(index // len(DBT_LAYERS)) % len(DBT_DOMAINS)]
            if index % 25 == 0:
                self.add(f"orchestration/dags/dbt/macros/macro_{index:05d}.sql")
            elif index % 25 == 1:
                self.add(f"orchestration/dags/dbt/seeds/seed_{index:05d}.csv")
            else:
                ext = ".yml" if index % 2 else ".sql"
                self.add(f"orchestration/dags/dbt/models/{layer}/{domain}/{layer[:3]}_{domain}_{index // 2:05d}{ext}")

    def data(self) -> None:
        """Plain data files fill the rest: data/<source>/<year>/<month>/part-N.csv, ~100 per folder."""
        index = 0
        while len(self.paths) < self.total:
            source = DATA_SOURCES[index % len(DATA_SOURCES)]
            bucket = index // (100 * len(DATA_SOURCES))
            year, month = 2015 + bucket // 12, bucket % 12 + 1
            self.add(f"data/{source}/{year}/{month:02d}/part-{index:06d}.csv")
            index += 1


def plan_tree(total: int) -> list[str]:
    """Every path of the first commit, dagship.yml and a README included, exactly `total` of them."""
    planner = PathPlanner(total)
    planner.add("dagship.yml")
    planner.add("README.md")
    planner.jobs(total * 12 // 100)
    planner.dags(total * 5 // 100)
    planner.dbt(total * 25 // 100)
    planner.data()
    return planner.paths


@dataclass
class ChangePlan:
    """The second commit: what each changed path becomes."""

    modified: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    deleted: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def plan_changes(paths: list[str], changed: int, rng: random.Random) -> ChangePlan:
    """~89% modifications, 5% renames (moved, lightly edited), 3% deletions, 3% additions, spread at random."""
    renames = round(changed * 0.05)
    deletions = round(changed * 0.03)
    additions = round(changed * 0.03)
    modifications = changed - renames - deletions - additions
    candidates = [path for path in paths if path != "dagship.yml"]
    picked = rng.sample(candidates, min(len(candidates), modifications + renames + deletions))
    plan = ChangePlan(
        modified=picked[:modifications],
        deleted=picked[modifications + renames :],
    )
    taken = set(paths)

    def fresh(path: str) -> str:
        taken.add(path)
        return path

    for index, old in enumerate(picked[modifications : modifications + renames]):
        folder, _, name = old.rpartition("/")
        stem, dot, ext = name.rpartition(".")
        if index % 2:  # same name in another folder: git's basename heuristic pairs these quickly
            new = join(folder, f"moved/{name}")
        else:  # new name too: only content similarity finds these
            new = join(folder, f"{stem}_v2{dot}{ext}")
        if new in taken:
            new = join(folder, f"renamed_{index:05d}_{name}")
        plan.renamed.append((old, fresh(new)))
    folders = sorted({path.rsplit("/", 1)[0] for path in paths if "/" in path})
    for index in range(additions):
        folder = rng.choice(folders)
        plan.added.append(fresh(f"{folder}/added_{index:05d}.py"))
    return plan


def fast_import_stream(paths: list[str], plan: ChangePlan) -> bytes:
    """Two commits as a `git fast-import` stream: far faster than writing 100k files and `git add`."""
    uid_of = {path: uid for uid, path in enumerate(paths)}
    out: list[bytes] = []

    def commit(mark: int, message: str, parent: str | None) -> None:
        msg = message.encode()
        stamp = "Bench <bench@example.com> 1700000000 +0000"
        out.append(f"commit refs/heads/main\nmark :{mark}\nauthor {stamp}\ncommitter {stamp}\n".encode())
        out.append(f"data {len(msg)}\n".encode())
        out.append(msg + b"\n")
        if parent:
            out.append(f"from {parent}\n".encode())

    def put(path: str, content: bytes) -> None:
        out.append(f"M 100644 inline {path}\ndata {len(content)}\n".encode())
        out.append(content + b"\n")

    commit(1, "base: synthetic data repository", None)
    for path in paths:
        put(path, DAGSHIP_YML.encode() if path == "dagship.yml" else file_content(uid_of[path], path))

    commit(2, "head: modify, rename, delete, add", ":1")
    for path in plan.modified:
        put(path, file_content(uid_of[path], path, revision=2))
    for old, new in plan.renamed:
        out.append(f"D {old}\n".encode())
        put(new, file_content(uid_of[old], old) + b"# moved by the benchmark\n")
    for path in plan.deleted:
        out.append(f"D {path}\n".encode())
    for index, path in enumerate(plan.added):
        put(path, file_content(len(paths) + index, path))
    return b"".join(out)


def git(repo: Path, *args: str) -> str:
    """Runs a setup git command with the fixed environment; raises with git's stderr on failure."""
    result = subprocess.run(["git", "-C", str(repo), *args], env=command_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip()


def build_repository(repo: Path, files: int, changed: int) -> dict[str, int]:
    """Creates the two commits with fast-import, then checks out head (dagship reads dagship.yml from disk).
    Returns how many changes of each kind the head commit holds, to check git found them all."""
    rng = random.Random(SEED)
    paths = plan_tree(files)
    plan = plan_changes(paths, changed, rng)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    stream = fast_import_stream(paths, plan)
    importer = subprocess.run(
        ["git", "-C", str(repo), "fast-import", "--quiet"], input=stream, env=command_env(), capture_output=True
    )
    if importer.returncode != 0:
        raise SystemExit(f"git fast-import failed:\n{importer.stderr.decode(errors='replace')}")
    git(repo, "-c", "checkout.workers=0", "reset", "-q", "--hard", "main")
    git(repo, "tag", "bench-base", "main~1")
    git(repo, "tag", "bench-head", "main")
    return {"M": len(plan.modified), "R": len(plan.renamed), "D": len(plan.deleted), "A": len(plan.added)}


def prepare_repository(workdir: Path, files: int, changed: int) -> tuple[Path, dict[str, int]]:
    """Reuses workdir/repo when its marker matches these parameters, else (re)builds it. Returns the repository
    and the planned change counts. The marker is written last, so an interrupted build is never reused."""
    repo = workdir / "repo"
    marker = workdir / MARKER_NAME
    wanted = {"generator": GENERATOR_VERSION, "files": files, "changed": changed, "seed": SEED}
    recorded = read_marker(marker)
    if recorded is not None and recorded.get("params") == wanted and repo.is_dir():
        log(f"reusing the repository in {repo}")
        return repo, recorded["planned"]
    if repo.exists():
        if recorded is None:  # never delete what this script did not make
            raise SystemExit(f"{repo} exists but has no {MARKER_NAME} next to it: pick another --workdir")
        log(f"parameters changed: rebuilding {repo}")
        shutil.rmtree(repo)
    workdir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"params": None, "planned": {}}) + "\n")  # ours, but not ready
    started = time.perf_counter()
    log(f"generating {files} files, {changed} changed, in {repo} ...")
    planned = build_repository(repo, files, changed)
    marker.write_text(json.dumps({"params": wanted, "planned": planned}) + "\n")
    log(f"repository ready in {time.perf_counter() - started:.1f} s")
    return repo, planned


def read_marker(marker: Path) -> dict | None:
    """The marker's content; None when there is none (a marker that is not valid JSON still says "ours")."""
    try:
        return json.loads(marker.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return {"params": None, "planned": {}}


# ------------------------------------------------------------------------------------------------- timing


def executable(name: str) -> str:
    """The absolute path of a program, found on the PATH the measured commands get (dagship finds git so)."""
    found = shutil.which(name, path=command_env().get("PATH"))
    if not found:
        raise SystemExit(f"`{name}` is not on PATH")
    return found


def command_env() -> dict[str, str]:
    """The environment every measured command gets: no git config from the machine, no dagship CI side effects."""
    env = dict(os.environ)
    env.update(GIT_ENV)
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "DAGSHIP_CONFIG", "GIT_DIR", "GIT_WORK_TREE"):
        env.pop(name, None)
    return env


@dataclass
class Sample:
    wall_ms: float
    peak_rss_kib: int


@dataclass
class Bench:
    """One timed command and its samples."""

    name: str
    argv: list[str]
    informational: bool = False  # shown for context, not part of the goal
    samples: list[Sample] = field(default_factory=list)

    def walls(self) -> list[float]:
        return [sample.wall_ms for sample in self.samples]

    def median_ms(self) -> float:
        return statistics.median(self.walls())

    def peak_rss_mib(self) -> float:
        return max(sample.peak_rss_kib for sample in self.samples) / 1024


# Runs one command and prints "wall_ms maxrss_kib exit_code". It runs in a fresh `python3 -I -S` importing only
# os, sys and time, not in this script, because a child's ru_maxrss starts at the RSS of the process it was
# spawned from (the kernel carries the old address space's peak across exec; with Popen's vfork that is this
# script's peak, which holds a 100k-file plan and a parsed report). fork() from this small launcher copies
# only its ~5-7 MiB, which is then the floor of every reading (rss_floor_kib() measures it). fork() costs ~1 ms
# more than Popen's vfork; every command pays it, which is noise next to the ~200 ms the default size takes.
LAUNCHER = """
import os, sys, time
argv = sys.argv[1:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.execv(argv[0], argv)
    except OSError as err:
        os.write(2, f"cannot run {argv[0]}: {err}\\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
print(f"{elapsed * 1000:.3f} {usage.ru_maxrss} {code}")
sys.exit(1 if code else 0)
"""


def run_once(argv: list[str], env: dict[str, str]) -> Sample:
    """Runs one command, stdout discarded, through LAUNCHER: wall time around fork + exec + wait4, and the
    child's ru_maxrss (KiB on Linux; the max over it and the children it waited for, e.g. dagship's gits).
    argv[0] must be an absolute path: a PATH search in the launcher's child costs time and raises the floor."""
    with tempfile.TemporaryFile() as stderr:
        launcher = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
        if launcher.returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace")
            raise SystemExit(f"command failed: {' '.join(argv)}\n{launcher.stdout.decode()}{message}")
    wall_ms, maxrss_kib, _ = launcher.stdout.split()
    return Sample(wall_ms=float(wall_ms), peak_rss_kib=int(maxrss_kib))


def rss_floor_kib() -> int:
    """The peak RSS LAUNCHER reports for `true`: below this, a command's peak RSS cannot be told apart."""
    return run_once([executable("true")], command_env()).peak_rss_kib


def measure(benches: list[Bench], runs: int) -> None:
    """One warm-up each (page cache, binary loading), then rounds a, b, a, b... so noise hits every command."""
    env = command_env()
    for bench in benches:
        run_once(bench.argv, env)
    for round_index in range(runs):
        for bench in benches:
            bench.samples.append(run_once(bench.argv, env))
        latest = ", ".join(f"{bench.name} {bench.samples[-1].wall_ms:.0f} ms" for bench in benches)
        log(f"round {round_index + 1}/{runs}: {latest}")


# ------------------------------------------------------------------------------------------- correctness


def git_changes(raw: bytes) -> Counter:
    """(letter, path, old_path) per entry of `git diff --name-status -z` output; R087 -> R."""
    fields = raw.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    changes: Counter = Counter()
    position = 0
    while position < len(fields):
        letter = fields[position][:1].decode()
        if letter in ("R", "C"):
            old, new = fields[position + 1].decode(errors="replace"), fields[position + 2].decode(errors="replace")
            changes[(letter, new, old)] += 1
            position += 3
        else:
            changes[(letter, fields[position + 1].decode(errors="replace"), None)] += 1
            position += 2
    return changes


STATUS_LETTERS = {
    "added": "A",
    "modified": "M",
    "deleted": "D",
    "renamed": "R",
    "copied": "C",
    "type_changed": "T",
}


def dagship_changes(report: dict) -> Counter:
    """The same triples from dagship's JSON `files`."""
    return Counter(
        (STATUS_LETTERS.get(entry["status"], entry["status"]), entry["path"], entry.get("old_path"))
        for entry in report["files"]
    )


def verify(git_argv: list[str], dagship_argv: list[str]) -> dict:
    """Runs both once and compares their change sets; exits 1 on any difference."""
    env = command_env()
    git_out = subprocess.run(git_argv, env=env, capture_output=True, check=True).stdout
    dagship_run = subprocess.run(dagship_argv, env=env, capture_output=True)
    if dagship_run.returncode != 0:
        raise SystemExit(f"dagship failed ({dagship_run.returncode}):\n{dagship_run.stderr.decode(errors='replace')}")
    report = json.loads(dagship_run.stdout)
    expected, actual = git_changes(git_out), dagship_changes(report)
    if expected != actual:
        missing, extra = expected - actual, actual - expected
        print("CORRECTNESS FAIL: dagship's files differ from git diff", file=sys.stderr)
        for label, diff in (("missing from dagship", missing), ("extra in dagship", extra)):
            for entry in sorted(diff, key=str)[:20]:
                print(f"  {label}: {entry}", file=sys.stderr)
            if len(diff) > 20:
                print(f"  ... and {len(diff) - 20} more {label}", file=sys.stderr)
        sys.exit(1)
    by_status = Counter(letter for letter, _, _ in expected.elements())
    return {
        "files": sum(expected.values()),
        "by_status": dict(sorted(by_status.items())),
        "jobs_touched": len(report["jobs"]),
        "matrix_entries": len(report["matrix"]["include"]),
        "filters_changed": sorted(name for name, result in report["filters"].items() if result["changed"]),
        "json_bytes": len(dagship_run.stdout),
    }


# ------------------------------------------------------------------------------------------------ report


def machine_info(dagship: Path) -> dict:
    """What the numbers depend on: CPUs usable by this process, CPU model, git and dagship versions."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": model,
        "git": subprocess.run([executable("git"), "--version"], capture_output=True, text=True).stdout.strip(),
        "git_path": executable("git"),
        "dagship": subprocess.run([str(dagship), "--version"], capture_output=True, text=True).stdout.strip(),
        "python": sys.version.split()[0],
        "rss_floor_mib": rss_floor_kib() / 1024,
    }


def render_markdown(
    benches: list[Bench], git_bench: Bench, goal: dict, machine: dict, params: dict, check: dict
) -> str:
    """The table people paste into a PR, plus the goal verdict and the machine."""
    base = git_bench.median_ms()
    lines = [
        f"Repository: {params['files']} files, {params['changed']} changed; {params['runs']} runs each after 1 warm-up.",
        "",
        "| command | median wall (ms) | min | max | peak RSS (MiB) | ratio to git |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    floor = machine["rss_floor_mib"]
    for bench in benches:
        walls = bench.walls()
        # At the floor the reading says only "no more than the launcher's own size".
        rss = f"<= {floor:.1f}" if bench.peak_rss_mib() <= floor + 0.25 else f"{bench.peak_rss_mib():.1f}"
        lines.append(
            f"| {bench.name} | {bench.median_ms():.1f} | {min(walls):.1f} | {max(walls):.1f} "
            f"| {rss} | {bench.median_ms() / base:.2f}x |"
        )
    verdict = "PASS" if goal["pass"] else "FAIL"
    lines += [
        "",
        f"Goal: dagship/git <= {GOAL_RATIO}x -> {goal['ratio']:.2f}x: **{verdict}** "
        f"(median of the per-round ratios: {goal['paired_ratio']:.2f}x)",
        "",
        f"dagship's report matches git diff: {check['files']} files "
        f"({', '.join(f'{k} {v}' for k, v in check['by_status'].items())}), {check['jobs_touched']} jobs touched, "
        f"{check['matrix_entries']} matrix entries, filters changed: {', '.join(check['filters_changed']) or 'none'}, "
        f"{check['json_bytes'] / 1e6:.2f} MB of JSON.",
        "",
        f"Machine: nproc {machine['nproc']}, {machine['cpu'] or 'unknown CPU'}, {machine['git']} ({machine['git_path']}), "
        f"{machine['dagship']}, Python {machine['python']}",
        "",
        f"Wall time: spawn to exit of each command. Peak RSS: ru_maxrss from wait4, the max over the process and "
        f"its waited-for children (not their sum); {machine['rss_floor_mib']:.1f} MiB is the floor (`true` reads that).",
    ]
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[bench-detect] {message}", file=sys.stderr, flush=True)


def default_dagship() -> Path:
    """Where `cargo build --release` puts the binary, honouring CARGO_TARGET_DIR like cargo does."""
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO_ROOT / "target") / "release" / "dagship"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the base commit (default 100000)")
    parser.add_argument("--changed", type=int, default=10_000, help="files changed by the head commit (default 10000)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the generated repository here and reuse it on later runs (default: a temp dir, deleted after)",
    )
    parser.add_argument("--dagship", type=Path, default=default_dagship(), help="the dagship binary to measure")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--no-ls-tree", action="store_true", help="skip the informational `git ls-tree` row")
    args = parser.parse_args(argv)
    if args.files < 100 or not 10 <= args.changed < args.files or args.runs < 1:
        parser.error("need --files >= 100, 10 <= --changed < --files, --runs >= 1")
    if not os.access(args.dagship, os.X_OK):
        parser.error(f"no dagship binary at {args.dagship}: run `cargo build --release` or pass --dagship")
    args.dagship = args.dagship.resolve()
    return args


def run(args: argparse.Namespace, workdir: Path) -> int:
    """Repository, correctness check, timings, report: correctness first, so no time goes into a wrong run."""
    started = time.perf_counter()
    repo, planned = prepare_repository(workdir, args.files, args.changed)
    base = git(repo, "rev-parse", "bench-base^{commit}")
    head = git(repo, "rev-parse", "bench-head^{commit}")

    git_bin = executable("git")
    git_argv = [git_bin, "-C", str(repo), "diff", "--name-status", "-z", "-M", base, head]
    dagship_argv = [str(args.dagship), "-C", str(repo), "detect", "--base", base, "--head", head, "--format", "json"]
    check = verify(git_argv, dagship_argv)
    log(f"correctness OK: {check['files']} files {check['by_status']}, {check['jobs_touched']} jobs touched")
    if check["by_status"] != planned:
        # E.g. past diff.renameLimit git stops pairing renames: the diff is then cheaper than the one intended.
        log(f"warning: the head commit holds {planned} but git reported {check['by_status']}")

    git_bench = Bench("`git diff --name-status -z -M`", git_argv)
    benches = [git_bench, Bench("`dagship detect --format json`", dagship_argv)]
    if not args.no_ls_tree:
        # dagship's second git call (run in parallel with the diff): shown to explain dagship's time, not a goal.
        ls_tree = [git_bin, "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", "--full-tree", head, "--"]
        ls_tree.append("jobs/etl_jobs")
        benches.append(Bench("(info) `git ls-tree -r jobs/etl_jobs`", ls_tree, informational=True))
    measure(benches, args.runs)

    ratio = benches[1].median_ms() / git_bench.median_ms()
    # Same-round ratios cancel slow drifts of the machine (the rounds are interleaved): a second opinion.
    paired = statistics.median(d / g for d, g in zip(benches[1].walls(), git_bench.walls()))
    goal = {"max_ratio": GOAL_RATIO, "ratio": ratio, "paired_ratio": paired, "pass": ratio <= GOAL_RATIO}
    machine = machine_info(args.dagship)
    params = {"files": args.files, "changed": args.changed, "runs": args.runs}
    print(render_markdown(benches, git_bench, goal, machine, params, check))
    if args.json_out:
        write_json(args.json_out, benches, git_bench, goal, machine, params, check)
    log(f"total {time.perf_counter() - started:.1f} s")
    return 0


def write_json(path: Path, benches: list[Bench], git_bench: Bench, goal: dict, machine: dict, params: dict,
               check: dict) -> None:
    """The same results, machine-readable, with every sample kept."""
    results = [
        {
            "name": bench.name,
            "argv": bench.argv,
            "informational": bench.informational,
            "median_ms": bench.median_ms(),
            "min_ms": min(bench.walls()),
            "max_ms": max(bench.walls()),
            "peak_rss_mib": bench.peak_rss_mib(),
            "ratio_to_git": bench.median_ms() / git_bench.median_ms(),
            "samples": [{"wall_ms": s.wall_ms, "peak_rss_kib": s.peak_rss_kib} for s in bench.samples],
        }
        for bench in benches
    ]
    document = {"params": params, "machine": machine, "goal": goal, "verification": check, "results": results}
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir:
        return run(args, args.workdir.resolve())
    with tempfile.TemporaryDirectory(prefix="dagship-bench-") as temp:
        return run(args, Path(temp))


if __name__ == "__main__":
    sys.exit(main())
