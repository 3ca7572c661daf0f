"""Times `dagship dags check` against a plain DagBag import (same interpreter, same Airflow settings) on the
examples' DAGs folder and on a generated folder of N DAG files with T tasks each. Prints a Markdown table of
median wall-clock seconds over --runs runs."""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

DAG_TEMPLATE = '''from datetime import datetime

from airflow import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="generated_{index}", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False) as dag:
    previous = None
    for number in range({tasks}):
        task = EmptyOperator(task_id=f"task_{{number}}")
        if previous is not None:
            previous >> task
        previous = task
'''

PEER = (
    "import sys; from airflow.models.dagbag import DagBag; "
    "bag = DagBag(sys.argv[1], include_examples=False); "
    "sys.exit(1 if bag.import_errors else 0)"
)


def timed(command, env, cwd):
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def measure(label, repo, dags_dir, args, runs):
    env = dict(os.environ, AIRFLOW__CORE__LOAD_EXAMPLES="False", PYTHONDONTWRITEBYTECODE="1")
    home = tempfile.mkdtemp(prefix="bench-dags-home-")
    env["AIRFLOW_HOME"] = home
    dagship = [args.dagship, "-C", repo, "dags", "check", "--python", args.python, "--format", "json"]
    peer = [args.python, "-c", PEER, os.path.join(repo, dags_dir)]
    rows = []
    for name, command in (("dagship dags check", dagship), ("python -c 'DagBag(...)'", peer)):
        times = [timed(command, env, repo) for _ in range(args.runs)]
        rows.append((label, name, statistics.median(times)))
    shutil.rmtree(home, ignore_errors=True)
    return rows


def generated_repo(count, tasks):
    repo = tempfile.mkdtemp(prefix="bench-dags-")
    os.makedirs(os.path.join(repo, "dags"))
    with open(os.path.join(repo, "dagship.yml"), "w") as config:
        config.write("dags_dir: dags\n")
    for index in range(count):
        with open(os.path.join(repo, "dags", f"generated_{index}.py"), "w") as dag:
            dag.write(DAG_TEMPLATE.format(index=index, tasks=tasks))
    return repo


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dagship", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--examples", required=True)
    parser.add_argument("--dags", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # A copy: inside dagship's own checkout, the repository root would be dagship's.
    examples = tempfile.mkdtemp(prefix="bench-dags-examples-")
    shutil.copytree(args.examples, examples, dirs_exist_ok=True)
    rows = measure("examples/ (2 DAGs)", examples, "orchestration/dags", args, args.runs)
    shutil.rmtree(examples, ignore_errors=True)
    repo = generated_repo(args.dags, args.tasks)
    try:
        rows += measure(f"{args.dags} generated DAGs x {args.tasks} tasks", repo, "dags", args, args.runs)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    print(f"| folder | command | median of {args.runs} (s) |\n| --- | --- | ---: |")
    for label, name, seconds in rows:
        print(f"| {label} | {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
