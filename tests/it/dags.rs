//! `dagship dags check` with a real Airflow (the one scripts/test.sh installs and exports as
//! DAGSHIP_TEST_AIRFLOW_PYTHON): DAG ids, import errors with file and line, duplicate ids, slow and hung
//! imports, .airflowignore, changed-only runs, the examples repository, and no Airflow at all.
use crate::common;

use std::path::{Path, PathBuf};

use common::{Repo, Run, airflow_python, copy_tree, dagship_command, run_command, run_watched};

const GOOD_DAG: &str = r#"import os
from datetime import datetime

from airflow import DAG

import company_lib  # from dags_check.pythonpath

with DAG(dag_id="good", start_date=datetime(2024, 1, 1), schedule=None, tags=[os.environ["REGION"]]) as dag:
    company_lib.make_task()
"#;

/// A helper module on `dags_check.pythonpath`; the operator's import works on Airflow 2.x and 3.x alike.
const COMPANY_LIB: &str = r#"try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2.x without the standard provider
    from airflow.operators.empty import EmptyOperator


def make_task():
    return EmptyOperator(task_id="start")
"#;

fn dag(dag_id: &str, top_level: &str) -> String {
    format!(
        "from datetime import datetime\nimport time\nfrom airflow import DAG\n{top_level}\n\
         dag = DAG(dag_id=\"{dag_id}\", start_date=datetime(2024, 1, 1), schedule=None)\n"
    )
}

/// Runs `dags check` in Actions mode with an output file and a step summary; returns the run, the outputs and
/// the summary.
fn check_in_actions(repo: &Repo, args: &[&str]) -> (Run, String, String) {
    let outputs = repo.scratch().join("outputs");
    let summary = repo.scratch().join("summary.md");
    let _ = std::fs::remove_file(&outputs);
    let _ = std::fs::remove_file(&summary);
    let mut command = dagship_command(repo.path());
    command
        .args(["dags", "check"])
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary);
    let run = run_command(&mut command);
    let read = |path: &PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    (run, read(&outputs), read(&summary))
}

/// The value of a `name<<DELIMITER` block in a $GITHUB_OUTPUT file.
fn output(outputs: &str, name: &str) -> String {
    let mut lines = outputs.lines();
    while let Some(line) = lines.next() {
        if let Some(delimiter) = line.strip_prefix(&format!("{name}<<")) {
            let value: Vec<&str> = lines.by_ref().take_while(|line| *line != delimiter).collect();
            return value.join("\n");
        }
    }
    panic!("no output {name} in:\n{outputs}");
}

fn paths(report: &serde_json::Value) -> Vec<String> {
    report["files"].as_array().unwrap().iter().map(|file| file["path"].as_str().unwrap().to_string()).collect()
}

fn file<'a>(report: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    report["files"].as_array().unwrap().iter().find(|file| file["path"] == path).unwrap_or_else(|| panic!("no {path}"))
}

/// A folder with one valid DAG and every kind of failure: a syntax error, a missing module, a duplicate id, a
/// slow import, an import that outlives the timeout, an ignored broken file and a helper without DAGs.
#[test]
fn import_errors_duplicates_and_slow_files_are_reported_and_fail_the_check() {
    let python = airflow_python();
    let repo = Repo::new();
    repo.write(
        "dagship.yml",
        "dags_dir: dags\ndags_check:\n  python: PYTHON\n  pythonpath: [lib]\n  env: { REGION: eu }\n  \
         slow_import_threshold: 1s\n  file_timeout: 3s\n"
            .replace("PYTHON", &python)
            .as_str(),
    )
    .write("lib/company_lib.py", COMPANY_LIB)
    .write("dags/good.py", GOOD_DAG)
    .write("dags/syntax.py", "from airflow import DAG\n\ndef broken(:\n    pass\n")
    .write("dags/missing.py", "from airflow import DAG\nimport os\nimport not_a_module_xyz\n")
    .write("dags/team_a/orders.py", &dag("orders", ""))
    .write("dags/team_b/orders_copy.py", &dag("orders", "# copied from team_a"))
    .write("dags/slow.py", &dag("slow", "time.sleep(1.5)"))
    .write("dags/hangs.py", &dag("hangs", "\n\ntime.sleep(30)"))
    .write("dags/.airflowignore", "ignored_*\n")
    .write("dags/ignored_broken.py", "from airflow import DAG\nraise ValueError('must be ignored')\n")
    .write("dags/helpers.py", "def helper():\n    return 1\n");

    let (run, outputs, summary) = check_in_actions(&repo, &["--format", "json"]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(
        paths(&report),
        [
            "dags/good.py",
            "dags/hangs.py",
            "dags/missing.py",
            "dags/slow.py",
            "dags/syntax.py",
            "dags/team_a/orders.py",
            "dags/team_b/orders_copy.py"
        ],
        "the ignored file and the helper without DAGs are not imported"
    );
    assert_eq!(report["ok"], false);
    assert!(report["airflow_version"].as_str().unwrap().starts_with(['2', '3']));
    assert_eq!(file(&report, "dags/good.py")["dag_ids"], serde_json::json!(["good"]));
    assert_eq!(file(&report, "dags/good.py")["tasks"], 1);
    assert_eq!(file(&report, "dags/good.py")["status"], "ok");
    assert_eq!(file(&report, "dags/syntax.py")["errors"][0]["line"], 3);
    assert_eq!(file(&report, "dags/missing.py")["errors"][0]["line"], 3);
    let traceback = file(&report, "dags/missing.py")["errors"][0]["traceback"].as_str().unwrap();
    assert!(traceback.contains("File \"dags/missing.py\", line 3"), "{traceback}");
    assert_eq!(file(&report, "dags/hangs.py")["status"], "timeout");
    assert_eq!(file(&report, "dags/hangs.py")["errors"][0]["line"], 6);
    assert_eq!(file(&report, "dags/slow.py")["slow"], true);
    assert_eq!(file(&report, "dags/slow.py")["dag_ids"], serde_json::json!(["slow"]));
    assert_eq!(file(&report, "dags/good.py")["slow"], false);
    assert_eq!(report["summary"]["import_errors"], 3);
    assert_eq!(report["summary"]["timeouts"], 1);
    assert_eq!(report["summary"]["duplicates"], 1);
    assert_eq!(report["duplicates"][0]["dag_id"], "orders");

    for annotation in [
        "::error file=dags/syntax.py,line=3::DAG import error: SyntaxError",
        "::error file=dags/missing.py,line=3::DAG import error: ModuleNotFoundError: No module named 'not_a_module_xyz'",
        "::error file=dags/hangs.py,line=6::DAG import error: import did not finish within 3s (dags_check.file_timeout)",
        "::error file=dags/team_a/orders.py,line=5::duplicate DAG id `orders`: defined also in dags/team_b/orders_copy.py",
        "::error file=dags/team_b/orders_copy.py,line=5::duplicate DAG id `orders`: defined also in dags/team_a/orders.py",
        "::warning file=dags/slow.py::slow DAG import",
    ] {
        assert!(run.stderr.contains(annotation), "missing {annotation} in:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("good.py"), "the valid DAG gets no annotation:\n{}", run.stderr);
    assert!(!run.stderr.contains("ignored_broken"), "{}", run.stderr);
    assert!(!run.stdout.contains("ignored_broken"), "{}", run.stdout);

    assert_eq!(output(&outputs, "dags_ok"), "false");
    assert_eq!(output(&outputs, "dag_import_errors"), "3");
    assert_eq!(output(&outputs, "dag_ids"), r#"["good","orders","slow"]"#);
    assert!(summary.contains("### DAG import check: failed"), "{summary}");
    assert!(summary.contains("| dags/syntax.py | error |"), "{summary}");
    assert!(summary.contains("| dags/good.py | ok | good |"), "{summary}");
    assert!(summary.contains("| dags/slow.py | slow | slow |"), "{summary}");
    assert!(summary.contains("<details><summary>dags/missing.py:3: ModuleNotFoundError"), "{summary}");
    assert!(summary.contains("- orders: dags/team\\_a/orders.py, dags/team\\_b/orders\\_copy.py"), "{summary}");
    assert!(!repo.path().join("dags/__pycache__").exists(), "the check leaves no bytecode to deploy");
}

/// A pull request's check imports only the DAG files it changed, and says why it skips a changed ignored file
/// or helper.
#[test]
fn changed_only_checks_the_changed_dag_files() {
    let python = airflow_python();
    let repo = Repo::new();
    repo.write("dagship.yml", &format!("dags_dir: dags\ndags_check:\n  python: {python}\n"))
        .write("dags/old_broken.py", "from airflow import DAG\nraise RuntimeError('broken on main')\n")
        .write("dags/kept.py", &dag("kept", ""))
        .write("dags/.airflowignore", "scratch/\n")
        .write("README.md", "docs\n");
    repo.commit("main");
    repo.checkout_new("feature", "main");
    repo.write("dags/new.py", &dag("new", ""))
        .write("dags/kept.py", &dag("kept", "# edited"))
        .write("dags/scratch/wip.py", "from airflow import DAG\nraise RuntimeError('ignored')\n")
        .write("dags/util.py", "def helper():\n    return 2\n")
        .write("README.md", "more docs\n");
    repo.commit("feature");

    let (run, outputs, _) = check_in_actions(&repo, &["--changed-only", "--base", "main", "--format", "json"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["scope"], "changed");
    assert_eq!(paths(&report), ["dags/kept.py", "dags/new.py", "dags/scratch/wip.py", "dags/util.py"]);
    assert_eq!(file(&report, "dags/scratch/wip.py")["skip_reason"], "airflowignore");
    assert_eq!(file(&report, "dags/util.py")["skip_reason"], "no_dag_heuristic");
    assert_eq!(report["summary"]["files"], 2);
    assert_eq!(output(&outputs, "dags_ok"), "true");
    assert_eq!(output(&outputs, "dag_ids"), r#"["kept","new"]"#);

    // The same repository checked whole fails on the file main already had broken.
    let (whole, _, _) = check_in_actions(&repo, &[]);
    whole.assert_code(1);
    assert!(
        whole.stderr.contains("::error file=dags/old_broken.py,line=2::DAG import error: RuntimeError: broken on main"),
        "{}",
        whole.stderr
    );
    assert!(whole.stdout.starts_with("DAG import check of dags: FAILED\n"), "{}", whole.stdout);
    assert!(whole.stdout.contains("error    dags/old_broken.py"), "{}", whole.stdout);
    assert!(whole.stdout.contains("dags/old_broken.py:2: RuntimeError: broken on main"), "{}", whole.stdout);

    // --files names the files directly; a file outside the DAGs folder is not imported.
    let mut command = dagship_command(repo.path());
    command.args(["dags", "check", "--format", "json", "--files", "dags/new.py", "README.md"]);
    let listed = run_command(&mut command);
    listed.assert_code(0);
    assert_eq!(paths(&listed.json()), ["dags/new.py"]);
}

/// A DAG file that kills the interpreter fails the check on that file, and cannot forge annotations.
#[test]
fn a_dag_file_that_exits_the_interpreter_fails_on_that_file() {
    let python = airflow_python();
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_dir: dags\n").write("dags/a_fine.py", &dag("fine", "")).write(
        "dags/b_exits.py",
        "import os\nfrom airflow import DAG\nprint('::error::forged by a DAG file')\nos._exit(7)\n",
    );
    let (run, _, _) = check_in_actions(&repo, &["--python", &python]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("::error file=dags/b_exits.py::DAG import stopped the Python interpreter"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("exit status: 7"), "{}", run.stderr);
    // The DAG file's output is quoted in the error, never a workflow command of its own.
    assert!(run.stderr.contains("  | ::error::forged by a DAG file"), "{}", run.stderr);
    assert!(!run.stderr.lines().any(|line| line.trim_start().starts_with("::error::forged")), "{}", run.stderr);
}

/// A file that blocks Airflow's timeout signal and hangs is stopped by the watchdog and fails the check on that
/// file (this waits for the watchdog: the file timeout plus 60 s).
#[test]
fn a_dag_file_that_hangs_past_the_timeout_is_stopped() {
    let python = airflow_python();
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_dir: dags\ndags_check:\n  file_timeout: 1s\n").write(
        "dags/blocks_alarm.py",
        "import signal\nimport time\nfrom airflow import DAG\n\
         signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\ntime.sleep(600)\n",
    );
    let started = std::time::Instant::now();
    let (run, _, _) = check_in_actions(&repo, &["--python", &python]);
    run.assert_code(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(300), "{:?}", started.elapsed());
    assert!(run.stderr.contains("::error file=dags/blocks_alarm.py::DAG import hung"), "{}", run.stderr);
    assert!(run.stderr.contains("made no progress for 61s while importing dags/blocks_alarm.py"), "{}", run.stderr);
}

/// The embedded default's DAGs pass, as the README's main job runs them.
#[test]
fn the_examples_dags_pass() {
    let python = airflow_python();
    let repo = Repo::new();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), repo.path());
    repo.commit("the example repository");
    let (run, outputs, summary) = check_in_actions(&repo, &["--python", &python]);
    run.assert_code(0);
    assert!(!run.stderr.contains("::error"), "{}", run.stderr);
    assert_eq!(output(&outputs, "dags_ok"), "true");
    assert_eq!(output(&outputs, "dag_import_errors"), "0");
    assert_eq!(output(&outputs, "dag_ids"), r#"["brevo_export","daily_orders"]"#);
    assert!(summary.contains("| orchestration/dags/daily\\_orders.py | ok | daily\\_orders |"), "{summary}");
}

/// No Airflow in the interpreter, or no interpreter: exit 2 with what to install or configure.
#[test]
fn no_airflow_or_no_python_is_a_usage_error_with_the_fix() {
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_dir: dags\ndags_check:\n  python: no-such-python-3.99\n")
        .write("dags/a.py", &dag("a", ""));
    let mut command = dagship_command(repo.path());
    command.args(["dags", "check"]);
    let missing = run_command(&mut command);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("cannot run the Python interpreter `no-such-python-3.99`: not found"),
        "{}",
        missing.stderr
    );
    assert!(missing.stderr.contains("dags_check.python"), "{}", missing.stderr);

    // The machine's python3 has no Airflow (the tests' Airflow lives in its own venv).
    let mut command = dagship_command(repo.path());
    command.args(["dags", "check", "--python", "python3"]);
    let no_airflow = run_command(&mut command);
    no_airflow.assert_code(2);
    assert!(no_airflow.stderr.contains("`python3` cannot import Airflow"), "{}", no_airflow.stderr);
    assert!(no_airflow.stderr.contains("No module named 'airflow'"), "{}", no_airflow.stderr);
    assert!(no_airflow.stderr.contains("python3 -m pip install \"apache-airflow=="), "{}", no_airflow.stderr);

    repo.write("dagship.yml", "dags_dir: orchestration/dags\n");
    let no_folder = run_command(dagship_command(repo.path()).args(["dags", "check", "--python", "python3"]));
    no_folder.assert_code(2);
    assert!(
        no_folder.stderr.contains("the DAGs folder `orchestration/dags` (dags_dir in dagship.yml) does not exist"),
        "{}",
        no_folder.stderr
    );
}

#[test]
fn bad_dags_check_config_names_the_key() {
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_check:\n  file_timeout: soon\n");
    let mut command = dagship_command(repo.path());
    command.args(["config", "check"]);
    let run = run_command(&mut command);
    run.assert_code(2);
    assert!(run.stderr.contains("dags_check.file_timeout"), "{}", run.stderr);
    repo.write("dagship.yml", "dags_check:\n  pythonpath: [../outside]\n");
    let run = run_command(dagship_command(repo.path()).args(["config", "check"]));
    run.assert_code(2);
    assert!(run.stderr.contains("dags_check.pythonpath[0]"), "{}", run.stderr);
}

/// A hung DAG file that prints the old progress line and forges lines in the checker's progress file cannot
/// keep the watchdog from stopping it: stdout/stderr never count as progress, and the progress file only
/// counts the next index of a file there is (this waits for the watchdog: the file timeout plus 60 s).
#[test]
fn a_dag_file_forging_progress_cannot_keep_a_hung_check_alive() {
    let python = airflow_python();
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_dir: dags\ndags_check:\n  file_timeout: 1s\n").write(
        "dags/forges_progress.py",
        "import signal\nimport sys\nimport time\nfrom airflow import DAG\n\
         signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n\
         n = 0\nwhile True:\n    print('dagship-dags-check: importing forges_progress.py', file=sys.stderr, flush=True)\n    \
         for path in sys.argv[1:]:\n        if path.endswith('progress'):\n            \
         with open(path, 'a') as progress:\n                progress.write(f'{n}\\tforged_{n}.py\\n')\n    \
         n += 1\n    time.sleep(0.2)\n",
    );
    let mut command = dagship_command(repo.path());
    command.args(["dags", "check", "--python", &python]).env("GITHUB_ACTIONS", "true");
    let watched = run_watched(&mut command, std::time::Duration::from_secs(240));
    watched.run.assert_code(1);
    assert!(watched.took < std::time::Duration::from_secs(150), "{:?}", watched.took);
    assert!(
        watched.run.stderr.contains("::error file=dags/forges_progress.py::DAG import hung"),
        "{}",
        watched.run.stderr
    );
}

/// Output without line breaks and bytes that are not UTF-8 neither grow dagship's memory nor stop its reader:
/// a valid DAG file printing 256 MB on one line after a non-UTF-8 line imports and passes.
#[test]
fn endless_lines_and_bad_bytes_from_a_dag_file_leave_the_check_bounded_and_correct() {
    let python = airflow_python();
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_dir: dags\n").write(
        "dags/noisy.py",
        "import sys\nfrom datetime import datetime\nfrom airflow import DAG\n\
         sys.stdout.buffer.write(b'bad bytes \\xff\\xfe here\\n')\nsys.stdout.buffer.flush()\n\
         chunk = b'x' * (1 << 20)\nfor _ in range(256):\n    sys.stdout.buffer.write(chunk)\nsys.stdout.buffer.flush()\n\
         sys.stderr.buffer.write(b'\\xff' * (8 << 20))\nsys.stderr.buffer.flush()\n\
         dag = DAG(dag_id='noisy', start_date=datetime(2024, 1, 1), schedule=None)\n",
    );
    let mut command = dagship_command(repo.path());
    command.args(["dags", "check", "--python", &python, "--format", "json"]);
    let watched = run_watched(&mut command, std::time::Duration::from_secs(200));
    watched.run.assert_code(0);
    let report = watched.run.json();
    assert_eq!(file(&report, "dags/noisy.py")["dag_ids"], serde_json::json!(["noisy"]));
    eprintln!("256 MB on one line: dagship peaked at {} MiB, took {:?}", watched.peak_kib / 1024, watched.took);
    assert!(watched.peak_kib < 100 * 1024, "dagship peaked at {} KiB", watched.peak_kib);
}

/// Airflow's own logging (alembic's plugin lines, `[info]` start-up chatter) stays out of dagship's output: not
/// in a clean check's stderr, not in the output a crashed check quotes, where only the DAG file's lines and the
/// failure remain.
#[test]
fn airflow_logging_stays_out_of_the_check_and_its_crash_report() {
    let python = airflow_python();
    let quiet = |stderr: &str| {
        !stderr.lines().any(|line| line.contains("alembic") || line.contains("[info") || line.contains(" INFO "))
    };
    let repo = Repo::new();
    repo.write("dagship.yml", "dags_dir: dags\n").write("dags/a_fine.py", &dag("fine", ""));
    let clean = run_command(dagship_command(repo.path()).args(["dags", "check", "--python", &python]));
    clean.assert_code(0);
    assert!(quiet(&clean.stderr), "{}", clean.stderr);

    repo.write("dags/b_exits.py", "import os\nfrom airflow import DAG\nprint('the DAG says why')\nos._exit(7)\n");
    let crashed = run_command(dagship_command(repo.path()).args(["dags", "check", "--python", &python]));
    crashed.assert_code(1);
    assert!(crashed.stderr.contains("exit status: 7"), "{}", crashed.stderr);
    assert!(crashed.stderr.contains("  | the DAG says why"), "{}", crashed.stderr);
    assert!(quiet(&crashed.stderr), "{}", crashed.stderr);
}
