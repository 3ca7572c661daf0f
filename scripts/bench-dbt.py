#!/usr/bin/env python3
"""Benchmark dagship's dbt slim CI against a full `dbt compile` and against the same dbt commands run by hand.

scripts/bench-dbt.sh installs dbt and builds dagship first. Steps:

1. generate a dbt project of --models models on DuckDB (stg_ -> int_ -> mart_, each model refs one or two models
   of the layer before; staging reads seeds) at dags/shop of a fresh git repository;
2. `dagship deploy --env prod` once into a file:// bucket: publishes manifest.json, run_results.json and the
   parse cache (made with the check target, dev) under data/target/;
3. a pull request branch that edits the SQL of one int_ model;
4. from a clean checkout each time (the project's target/ and logs/ and the DuckDB files removed), --repeat rounds
   of: a. the full `dbt compile --target dev`; b. `dagship dbt compile --env prod`; c. the dbt command dagship
   ran, by hand, with the bucket's state and parse cache copied into place; d. dagship against a copy of the
   bucket without the parse cache.

Prints a Markdown table of the medians and their ratios to the full compile, and dagship's overhead over (c).
Python 3.11 standard library only.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = 1000
PROJECT = "dags/shop"
RAW_TABLES = 20
FLAGS_DAGSHIP_ADDS = ["--no-use-colors", "--log-format-file", "json", "--log-path"]

DBT_PROJECT = """name: shop
version: '1.0.0'
config-version: 2
profile: shop
vars:
  ENV_SHORT_NAME: dev
models:
  shop:
    staging:
      +materialized: view
    intermediate:
      +materialized: view
    marts:
      +materialized: table
"""

# DuckDB files are named warehouse_<target>: a database file must not share its name with a schema.
PROFILES = """shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{{{ env_var('DAGSHIP_DUCKDB_DIR') }}}}/warehouse_dev.duckdb"
      schema: analytics_dev
      threads: {threads}
    prod:
      type: duckdb
      path: "{{{{ env_var('DAGSHIP_DUCKDB_DIR') }}}}/warehouse_prod.duckdb"
      schema: analytics
      threads: {threads}
"""


def run(args: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def git(repo: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="b@x", GIT_CONFIG_GLOBAL="/dev/null")
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def generate(project: Path, models: int, threads: int) -> dict[str, list[str]]:
    """Writes the project; returns each model's children."""
    rng = random.Random(SEED)
    staging = [f"stg_{i:04d}" for i in range(models * 3 // 10)]
    intermediate = [f"int_{i:04d}" for i in range(models * 4 // 10)]
    marts = [f"mart_{i:04d}" for i in range(models - len(staging) - len(intermediate))]
    children: dict[str, list[str]] = {name: [] for name in staging + intermediate + marts}
    write(project / "dbt_project.yml", DBT_PROJECT)
    write(project / "profiles.yml", PROFILES.format(threads=threads))
    write(project / "seeds" / "country_codes.csv", "code,name\nDE,Germany\nFR,France\nUS,United States\n")
    # Seeds, not sources: a source's database is the target's (DuckDB: the file name), so every source, and all
    # that depends on it, would be state:modified when the check target differs from the deploy target.
    for table in range(RAW_TABLES):
        write(project / "seeds" / f"raw_orders_{table:02d}.csv",
              "id,customer_id,country,amount\n1,10,DE,5.0\n2,11,FR,7.5\n3,10,US,\n")

    for index, name in enumerate(staging):
        seed_join = ("left join {{ ref('country_codes') }} as countries on countries.code = orders.country\n"
                     if index % 5 == 0 else "")
        write(project / "models" / "staging" / f"{name}.sql",
              f"-- staging model {index}\n"
              "select\n    orders.id,\n    orders.customer_id,\n    orders.country,\n"
              f"    orders.amount * {1 + index % 7} as amount,\n"
              "    '{{ var(\"ENV_SHORT_NAME\") }}' as env\n"
              f"from {{{{ ref('raw_orders_{index % RAW_TABLES:02d}') }}}} as orders\n{seed_join}"
              "where orders.amount is not null\n")

    def layer(names: list[str], parents: list[str], folder: str, kind: str) -> None:
        for index, name in enumerate(names):
            refs = rng.sample(parents, rng.choice([1, 2]))
            for parent in refs:
                children[parent].append(name)
            env_column = ",\n    '{{ var(\"ENV_SHORT_NAME\") }}' as env" if index % 3 == 0 else ""
            if len(refs) == 1:
                body = (f"select\n    id,\n    customer_id,\n    sum(amount) as amount{env_column}\n"
                        f"from {{{{ ref('{refs[0]}') }}}}\ngroup by id, customer_id\n")
            else:
                body = (f"select\n    a.id,\n    a.customer_id,\n    a.amount + coalesce(b.amount, 0) as amount"
                        f"{env_column}\nfrom {{{{ ref('{refs[0]}') }}}} as a\n"
                        f"left join {{{{ ref('{refs[1]}') }}}} as b on a.id = b.id\n")
            write(project / "models" / folder / f"{name}.sql", f"-- {kind} model {index}\n{body}")

    layer(intermediate, staging, "intermediate", "intermediate")
    layer(marts, intermediate, "marts", "mart")
    return children


def clean_checkout(project: Path, duckdb_dir: Path) -> None:
    for folder in ("target", "logs"):
        shutil.rmtree(project / folder, ignore_errors=True)
    for path in duckdb_dir.glob("*.duckdb*"):
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="dbt threads in profiles.yml")
    parser.add_argument("--dagship", type=Path, default=REPO_ROOT / "target" / "release" / "dagship")
    parser.add_argument("--dbt-bin", type=Path, default=REPO_ROOT / "target" / "test-tools" / "dbt-venv" / "bin",
                        help="the folder holding the dbt executable")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dagship-bench-dbt"))
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.models < 10:
        sys.exit("--models must be at least 10")
    dagship, dbt_bin = args.dagship.resolve(), args.dbt_bin.resolve()
    dbt = str(dbt_bin / "dbt")

    shutil.rmtree(args.workdir, ignore_errors=True)
    repo, bucket, bucket_nocache = args.workdir / "repo", args.workdir / "bucket", args.workdir / "bucket-nocache"
    duckdb_dir, scratch = args.workdir / "duckdb", args.workdir / "scratch"
    for folder in (repo, bucket, duckdb_dir, scratch):
        folder.mkdir(parents=True)
    project = repo / PROJECT
    env = dict(os.environ, DO_NOT_TRACK="1", DAGSHIP_DUCKDB_DIR=str(duckdb_dir),
               PATH=f"{dbt_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("DBT_PROFILES_DIR", "GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "DAGSHIP_CONFIG"):
        env.pop(name, None)

    # 1. The repository.
    git(repo, "init", "-q", "-b", "main")
    config = ("dags_dir: dags\ndbt:\n  project_dir: {project}\nenvironments:\n"
              "  prod: {{ platform: local, bucket: \"file://{bucket}\", dbt_target: prod, dbt_check_target: dev, "
              "vars: {{ ENV_SHORT_NAME: prod }}, branches: [main] }}\n"
              "deploy:\n  max_delete: 100%\n  exclude_from: dags/.deployignore\n")
    write(repo / "dagship.yml", config.format(project=PROJECT, bucket=bucket))
    # The same settings against the bucket copy without the parse cache, outside the repository (--config).
    nocache_config = args.workdir / "dagship-nocache.yml"
    write(nocache_config, config.format(project=PROJECT, bucket=bucket_nocache))
    write(repo / ".gitignore", "target/\ndbt_packages/\nlogs/\n*.duckdb\n")
    write(repo / "dags" / ".deployignore", "shop/target/\nshop/logs/\n")
    write(repo / "dags" / "daily.py", "# a DAG\n")
    children = generate(project, args.models, args.threads)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dbt project")
    print(f"generated {args.models} models in {project}", flush=True)

    # 2. Publish the environment's state.
    seconds, _ = run([str(dagship), "-C", str(repo), "deploy", "--env", "prod"], env=env)
    state = bucket / "data" / "target"
    published = ["manifest.json", "run_results.json", "parse-cache/partial_parse.msgpack", "parse-cache/meta.json"]
    missing = [name for name in published if not (state / name).is_file()]
    if missing:
        sys.exit(f"the deploy did not publish {missing} under {state}")
    print(f"deploy (dbt compile --target prod + dbt parse --target dev, upload): {seconds:.1f}s", flush=True)
    shutil.copytree(bucket, bucket_nocache)
    shutil.rmtree(bucket_nocache / "data" / "target" / "parse-cache")

    # 3. The pull request: one intermediate model in the middle of its layer that has children.
    intermediate = sorted(name for name in children if name.startswith("int_"))
    middle = len(intermediate) // 2
    edited = next(name for name in intermediate[middle:] + intermediate[:middle] if children[name])
    git(repo, "checkout", "-q", "-b", "pr")
    model_file = project / "models" / "intermediate" / f"{edited}.sql"
    model_file.write_text(model_file.read_text().replace("amount", "amount * 2", 1))
    git(repo, "commit", "-qam", f"change {edited}")
    expected = {edited, *children[edited]}
    print(f"edited {edited}; state:modified+ should select {sorted(expected)}", flush=True)
    clean_checkout(project, duckdb_dir)

    # 4. The measurements, interleaved so drift hits every variant alike.
    times: dict[str, list[float]] = {"full": [], "dagship": [], "raw": [], "nocache": []}
    dagship_dbt_seconds: list[float] = []
    raw_args: list[str] | None = None
    selected: list[str] = []
    for round_ in range(args.repeat):
        clean_checkout(project, duckdb_dir)
        seconds, _ = run([dbt, "compile", "--target", "dev", "--vars", json.dumps({"ENV_SHORT_NAME": "prod"}),
                          "--target-path", str(project / "target")], cwd=project, env=env)
        times["full"].append(seconds)

        clean_checkout(project, duckdb_dir)
        seconds, out = run([str(dagship), "-C", str(repo), "dbt", "compile", "--env", "prod", "--format", "json"],
                           env=env)
        report = json.loads(out)
        selected = sorted(model["name"] for model in report.get("modified_models", []))
        outcome = report.get("parse_cache", {})
        problems = []
        if report.get("mode") != "slim":
            problems.append(f"mode is {report.get('mode')!r}, not 'slim'")
        if outcome.get("source") != "bucket" or outcome.get("outcome", {}).get("status") != "used":
            problems.append(f"the bucket's parse cache was not used: {outcome}")
        if not selected or len(selected) > max(10, args.models // 10):
            problems.append(f"{len(selected)} of {report.get('total_models')} models selected")
        if set(selected) != expected:
            problems.append(f"selected {selected}, expected {sorted(expected)}")
        if problems:
            sys.exit("dagship dbt compile: " + "; ".join(problems) + "\n" + json.dumps(report, indent=2))
        times["dagship"].append(seconds)
        dagship_dbt_seconds.append(sum(command["seconds"] for command in report["commands"]))
        compiles = [command["command"] for command in report["commands"]
                    if command["command"].startswith("dbt compile")]
        if len(compiles) != 1 or len(report["commands"]) != 1:
            sys.exit(f"expected dagship to run exactly one dbt command, a compile: {report['commands']}")
        # dagship joins the arguments with spaces: none of them has one here (no spaces in the paths or vars).
        raw_args = compiles[0].split(" ")[1:]

        clean_checkout(project, duckdb_dir)
        state_dir, log_dir = scratch / f"state-{round_}", scratch / f"log-{round_}"
        state_dir.mkdir()
        log_dir.mkdir()
        shutil.copy(state / "manifest.json", state_dir)
        shutil.copy(state / "run_results.json", state_dir)
        (project / "target").mkdir()
        shutil.copy(state / "parse-cache" / "partial_parse.msgpack", project / "target" / "partial_parse.msgpack")
        args_here = list(raw_args)
        args_here[args_here.index("--state") + 1] = str(state_dir)
        seconds, _ = run([dbt, *args_here, *FLAGS_DAGSHIP_ADDS, str(log_dir)], cwd=project, env=env)
        times["raw"].append(seconds)
        codes = {json.loads(line)["info"]["code"] for line in (log_dir / "dbt.log").read_text().splitlines()
                 if line.startswith("{")}
        if "I040" not in codes:
            sys.exit(f"the raw slim compile did not reuse the parse cache; see {log_dir / 'dbt.log'}")
        raw_selected = sorted(result["unique_id"].split(".")[-1] for result in
                              json.loads((project / "target" / "run_results.json").read_text())["results"]
                              if result["unique_id"].startswith("model."))
        if raw_selected != selected:
            sys.exit(f"the raw slim compile selected {raw_selected}, dagship {selected}")

        clean_checkout(project, duckdb_dir)
        seconds, out = run([str(dagship), "-C", str(repo), "--config", str(nocache_config), "dbt", "compile",
                            "--env", "prod", "--format", "json"], env=env)
        report = json.loads(out)
        if report.get("mode") != "slim" or report.get("parse_cache", {}).get("source") != "none":
            sys.exit(f"dagship without parse cache: unexpected report\n{json.dumps(report, indent=2)}")
        times["nocache"].append(seconds)
        print(f"round {round_ + 1}: " + "  ".join(f"{name} {values[-1]:.2f}s" for name, values in times.items()),
              flush=True)
    clean_checkout(project, duckdb_dir)

    medians = {name: statistics.median(values) for name, values in times.items()}
    full = medians["full"]
    rows = [
        ("full", f"full `dbt compile` ({args.models} models)"),
        ("dagship", "dagship slim, parse cache from the bucket"),
        ("raw", "raw dbt slim, same command, parse cache copied"),
        ("nocache", "dagship slim, no parse cache"),
    ]
    print()
    print(f"`state:modified+` selected {len(selected)} of {args.models} models ({', '.join(selected)}); "
          f"median of {args.repeat}, clean checkout each run")
    print()
    print("| run | median wall seconds | vs full compile |")
    print("| --- | ---: | ---: |")
    for key, label in rows:
        print(f"| {label} | {medians[key]:.2f} | {medians[key] / full:.2f}x |")
    overhead = medians["dagship"] / medians["raw"] - 1
    outside_dbt = statistics.median(wall - inside for wall, inside in zip(times["dagship"], dagship_dbt_seconds))
    print()
    print(f"dagship overhead over the same dbt commands: {overhead * 100:.1f}% (b vs c); "
          f"dagship's own time around dbt (wall minus dbt's, median): {outside_dbt:.2f}s")
    print(f"raw slim command: dbt {' '.join(raw_args or [])} {' '.join(FLAGS_DAGSHIP_ADDS)} <log dir>")
    print(f"goals: dagship slim <= 0.30x of full ({'met' if medians['dagship'] <= 0.3 * full else 'NOT met'}), "
          f"overhead < 5% ({'met' if overhead < 0.05 else 'NOT met'})")
    if args.json_out:
        args.json_out.write_text(json.dumps({"times": times, "medians": medians, "selected": selected}, indent=2))


if __name__ == "__main__":
    main()
