"""dagship's DAG import checker: imports a DAGs folder with the installed Airflow the way its DagBag does.

Run by `dagship dags check` as `python checker.py REQUEST.json RESULT.json PROGRESS`. It writes its findings
to RESULT.json (never to stdout: DAG files and Airflow's logging print there freely) and appends one line
`index<TAB>file` per file to PROGRESS, which dagship's watchdog uses to tell a slow folder from a hung import
(it counts a line only when the index is the next one, so a DAG file writing there cannot keep a hung check
alive).

Works with Airflow 2.x and 3.x: DagBag lives in airflow.models.dagbag (2.x to 3.1) and may move to
airflow.dag_processing.dagbag; both are tried. Exit codes: 0 the result was written (whatever the DAGs did),
3 Airflow cannot be imported (the result says why), anything else a crash.
"""
import inspect
import json
import os
import re
import shlex
import sys
import time
import traceback

FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
TIMEOUT_MARK = "DagBag import timeout for"
DBT_WORD = re.compile(r"\bdbt\b")
SHELLS = {"bash", "sh", "zsh", "dash", "ash"}
SHELL_SEPARATORS = {"&&", "||", ";", "|", "&", "\n", "(", ")"}
# Bounds on what one task may add to the result: its commands and the text quoted in messages.
MAX_COMMANDS = 50
MAX_TEXT = 2000


def write_result(path, result):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(result, out)


def load_airflow():
    """Imports Airflow and the DagBag class; returns (airflow module, DagBag, where DagBag came from)."""
    import airflow  # noqa: F401  (an ImportError here means: Airflow is not installed)

    errors = []
    for module_name in ("airflow.dag_processing.dagbag", "airflow.models.dagbag"):
        try:
            module = __import__(module_name, fromlist=["DagBag"])
            return airflow, module.DagBag, module_name
        except (ImportError, AttributeError) as err:
            errors.append(f"{module_name}: {err}")
    raise ImportError("no DagBag in this Airflow: " + "; ".join(errors))


def safe_mode():
    from airflow.configuration import conf

    return conf.getboolean("core", "DAG_DISCOVERY_SAFE_MODE", fallback=True)


def list_files(dags_folder, safe):
    """The files Airflow would parse: .py and .zip files not matched by .airflowignore, that pass the
    'might contain a DAG' heuristic in safe mode."""
    from airflow.utils.file import list_py_file_paths

    return sorted(list_py_file_paths(dags_folder, safe_mode=safe))


def might_contain_dag(path, safe):
    from airflow.utils.file import might_contain_dag as heuristic

    try:
        return heuristic(path, safe)
    except Exception:  # an unreadable file: let the import report it
        return True


def innermost_line(trace, path):
    """The line of the last traceback frame inside `path` (for SyntaxError: the line the error points at)."""
    wanted = os.path.realpath(path)
    line = None
    for text in trace.splitlines():
        match = FRAME.match(text)
        if match and os.path.realpath(match.group("file")) == wanted:
            line = int(match.group("line"))
    return line


def error_message(trace):
    """The exception lines of a formatted traceback: what follows the last frame and its source lines."""
    lines = trace.rstrip().splitlines()
    last_frame = max((i for i, text in enumerate(lines) if FRAME.match(text)), default=-1)
    rest = lines[last_frame + 1 :]
    while rest and rest[0][:1].isspace():
        rest = rest[1:]
    message = "\n".join(rest).strip()
    return message or (lines[-1].strip() if lines else "import failed")


def warm_up():
    """Imports what nearly every DAG file needs (the DAG class, operators), so the first file's import time is
    its own and not Airflow's one-time start-up."""
    import airflow

    try:
        airflow.DAG  # noqa: B018  (a lazy attribute: reading it imports the DAG class)
    except Exception:
        pass
    for module_name in ("airflow.models.baseoperator", "airflow.sdk"):
        try:
            __import__(module_name)
        except Exception:
            pass


def pre_import(path):
    """Imports the airflow.* modules the file names before timing it, as Airflow's DAG processor does
    (core.parsing_pre_import_modules): the scheduler does not pay them per file either."""
    try:
        from airflow.utils.file import iter_airflow_imports
    except ImportError:  # Airflow before 2.6
        return
    for module_name in iter_airflow_imports(path):
        try:
            __import__(module_name)
        except Exception:  # the import itself reports it, with the file's own traceback
            pass


def class_names(value):
    return [klass.__name__ for klass in type(value).__mro__]


def schedule_text(dag):
    """The schedule as a person reads it: the cron or preset string, else the timetable's own summary."""
    try:
        schedule = getattr(dag, "schedule", None)
        if schedule is None or isinstance(schedule, str):
            return schedule
        summary = getattr(getattr(dag, "timetable", None), "summary", None)
        return str(summary) if summary is not None else str(schedule)
    except Exception:
        return None


def shell_commands(text):
    """A shell script as simple commands (lists of words), split at ;, &&, ||, | and newlines. Words are
    not expanded: `$VAR` and Jinja templates stay as written (dagship reports them as unresolved)."""
    lexer = shlex.shlex(text.replace("\\\n", " "), posix=True, punctuation_chars=";&|()\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    commands, current = [], []
    for word in lexer:
        if word in SHELL_SEPARATORS or set(word) <= set(";&|()\n"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(word)
    if current:
        commands.append(current)
    return commands[:MAX_COMMANDS]


def argv_commands(argv):
    """A container's command line: `sh -c SCRIPT` is the script's commands, anything else is one command."""
    argv = [str(word) for word in argv]
    if argv and os.path.basename(argv[0]) in SHELLS:
        for index, word in enumerate(argv[1:-1], start=1):
            if word.startswith("-") and "c" in word[1:]:
                return shell_commands(argv[index + 1])
    return [argv] if argv else []


def runs_dbt(task):
    """What dbt a task runs, as far as its objects tell before it runs: `commands` (simple commands to find dbt
    invocations in), or `unresolved` (why the selection cannot be known), or None when it does not look like dbt."""
    names = class_names(task)
    bash = getattr(task, "bash_command", None)
    if "BashOperator" in names and isinstance(bash, str):
        return {"commands": shell_commands(bash)} if DBT_WORD.search(bash) else None
    if "KubernetesPodOperator" in names:
        argv = list(getattr(task, "cmds", None) or []) + list(getattr(task, "arguments", None) or [])
        if any(not isinstance(word, str) for word in argv):
            return {"unresolved": "the pod's cmds/arguments are not plain strings"} if DBT_WORD.search(repr(argv)) else None
        return {"commands": argv_commands(argv)} if DBT_WORD.search(" ".join(argv)) else None
    if "DockerOperator" in names:
        command = getattr(task, "command", None)
        if isinstance(command, str):
            return {"commands": shell_commands(command)} if DBT_WORD.search(command) else None
        if isinstance(command, (list, tuple)) and all(isinstance(word, str) for word in command):
            return {"commands": argv_commands(command)} if DBT_WORD.search(" ".join(command)) else None
    # A command made when the task runs (@task.bash, a Python callable running dbt): only its code tells.
    callable_ = getattr(task, "python_callable", None)
    if callable_ is not None:
        try:
            source = inspect.getsource(callable_)
        except (OSError, TypeError):
            source = ""
        if DBT_WORD.search(source):
            return {"unresolved": f"its dbt command is built when the task runs (in `{callable_.__name__}`)"}
    return None


def cosmos_selection(converter):
    """An astronomer-cosmos DbtDag/DbtTaskGroup's render config: the selection its tasks were rendered from."""
    render = getattr(getattr(converter, "dbt_graph", None), "render_config", None)
    if render is None:
        return {"unresolved": "a cosmos object without a render config"}
    words = lambda value: [str(item) for item in (value or [])]  # noqa: E731
    return {
        "cosmos": {
            "select": words(getattr(render, "select", None)),
            "exclude": words(getattr(render, "exclude", None)),
            "selector": getattr(render, "selector", None),
        }
    }


def cosmos_groups(group):
    """The cosmos task groups under `group`, depth first."""
    found = []
    for child in getattr(group, "children", {}).values():
        if "DbtToAirflowConverter" in class_names(child):
            found.append(child)
        elif hasattr(child, "children"):
            found.extend(cosmos_groups(child))
    return found


def dbt_tasks(dag):
    """The tasks (and cosmos groups, or a whole cosmos DbtDag) that run dbt, with what they run."""
    entries = []
    if "DbtToAirflowConverter" in class_names(dag):
        return [{"task_id": None, "operator": type(dag).__name__, **cosmos_selection(dag)}]
    covered = set()
    for group in cosmos_groups(getattr(dag, "task_group", None)):
        entries.append({"task_id": group.group_id, "operator": type(group).__name__, **cosmos_selection(group)})
        covered.update(task.task_id for task in dag.tasks if task.task_id.startswith(group.group_id + "."))
    for task in dag.tasks:
        if task.task_id in covered:
            continue
        try:
            found = runs_dbt(task)
        except Exception as err:  # an operator dagship does not know the shape of
            found = {"unresolved": f"cannot read the task ({type(err).__name__})"}
        if found is not None:
            entries.append({"task_id": task.task_id, "operator": type(task).__name__, **found})
    return entries


def describe_dag(dag):
    try:
        tasks = dbt_tasks(dag)
    except Exception as err:
        tasks = [{"task_id": None, "operator": type(dag).__name__, "unresolved": f"cannot read the DAG ({err})"[:MAX_TEXT]}]
    return {"dag_id": dag.dag_id, "tasks": len(dag.tasks), "schedule": schedule_text(dag), "dbt_tasks": tasks}


def check_file(dagbag, path, safe):
    pre_import(path)
    before = set(dagbag.import_errors)
    started = time.perf_counter()
    found = dagbag.process_file(path, only_if_updated=False, safe_mode=safe)
    seconds = time.perf_counter() - started
    # Each file is judged alone: duplicate ids across files are found by dagship, not by DagBag's bag_dag.
    dagbag.dags.clear()
    errors = []
    for key in [key for key in dagbag.import_errors if key not in before]:
        trace = dagbag.import_errors.pop(key)
        errors.append(
            {
                "message": error_message(trace),
                "line": innermost_line(trace, path),
                "traceback": trace,
                "timeout": TIMEOUT_MARK in trace,
            }
        )
    warnings = list(getattr(dagbag, "captured_warnings", {}).pop(path, ()) or ())
    if errors:
        status = "timeout" if any(error["timeout"] for error in errors) else "error"
    else:
        status = "ok"
    return {
        "path": path,
        "status": status,
        "dags": [describe_dag(dag) for dag in found],
        "seconds": seconds,
        "errors": errors,
        "warnings": warnings,
    }


def main():
    request_path, result_path, progress_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(request_path, encoding="utf-8") as request_file:
        request = json.load(request_file)
    started = time.perf_counter()
    try:
        airflow, dagbag_class, dagbag_module = load_airflow()
    except Exception:
        write_result(
            result_path,
            {"setup_error": {"kind": "airflow_missing", "message": traceback.format_exc(limit=0).strip()}},
        )
        return 3
    dags_folder = request["dags_folder"]
    safe = safe_mode()
    listed = list_files(dags_folder, safe)
    files = []
    if request.get("files") is None:
        selected = listed
    else:
        listed_set = set(listed)
        selected = []
        for path in request["files"]:
            if path in listed_set:
                selected.append(path)
            else:
                reason = "no_dag_heuristic" if not might_contain_dag(path, safe) else "airflowignore"
                files.append({"path": path, "status": "skipped", "skip_reason": reason, "dags": [],
                              "seconds": 0.0, "errors": [], "warnings": []})
    dagbag = dagbag_class(dag_folder=dags_folder, include_examples=False, collect_dags=False)
    warm_up()
    startup = time.perf_counter() - started
    for index, path in enumerate(selected):
        with open(progress_path, "a", encoding="utf-8") as progress:
            progress.write(f"{index}\t{os.path.relpath(path, dags_folder)}\n")
        files.append(check_file(dagbag, path, safe))
    files.sort(key=lambda entry: entry["path"])
    write_result(
        result_path,
        {
            "airflow_version": airflow.__version__,
            "python_version": sys.version.split()[0],
            "dagbag_module": dagbag_module,
            "startup_seconds": startup,
            "files": files,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
