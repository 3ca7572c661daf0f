//! What dbt each DAG runs, from the task objects the checker imported: the commands of Bash, KubernetesPod and
//! Docker operators (`dbt run|build|test` with `--select/-s/--models/-m`, `--exclude`, `--selector`), the render
//! configs of astronomer-cosmos `DbtDag`/`DbtTaskGroup`, and the tasks whose selection only exists when they run
//! (a Jinja template, a shell variable, a command built by Python), which are reported as unresolved.
use serde::{Deserialize, Serialize};

/// One DAG as the checker saw it: its schedule and the tasks that run dbt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagDetail {
    pub dag_id: String,
    /// The cron or preset, or the timetable's summary; None for a DAG without a schedule.
    pub schedule: Option<String>,
    pub dbt_tasks: Vec<DbtTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbtTask {
    /// The task id, or the cosmos task group's id; None for a whole cosmos `DbtDag`.
    pub task_id: Option<String>,
    /// The operator's (or cosmos object's) class name.
    pub operator: String,
    #[serde(flatten)]
    pub run: DbtRun,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "selection", rename_all = "snake_case")]
pub enum DbtRun {
    /// The dbt commands the task runs, each with its selection as written.
    Static { invocations: Vec<DbtInvocation> },
    /// Why the selection cannot be known before the task runs.
    Unresolved { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbtInvocation {
    /// `run`, `build`, `test`, ... or `cosmos` for a cosmos render config.
    pub command: String,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// The checker's description of one task (see `dbt_tasks` in checker.py).
#[derive(Debug, Deserialize)]
pub struct CheckedDbtTask {
    pub task_id: Option<String>,
    pub operator: String,
    #[serde(default)]
    pub commands: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub cosmos: Option<CosmosConfig>,
    #[serde(default)]
    pub unresolved: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CosmosConfig {
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub selector: Option<String>,
}

/// The dbt commands that run models or their tests; `compile`, `deps`, `docs` and the like change nothing.
const RUNNING_COMMANDS: &[&str] = &["run", "build", "test", "seed", "snapshot"];

/// A task from the checker, or None when it runs no model after all (only `dbt deps`, say).
pub fn dbt_task(checked: CheckedDbtTask) -> Option<DbtTask> {
    let run = if let Some(reason) = checked.unresolved {
        DbtRun::Unresolved { reason }
    } else if let Some(cosmos) = checked.cosmos {
        let invocation = DbtInvocation {
            command: "cosmos".into(),
            select: cosmos.select,
            exclude: cosmos.exclude,
            selector: cosmos.selector,
        };
        match unresolved_words(&invocation) {
            Some(reason) => DbtRun::Unresolved { reason },
            None => DbtRun::Static { invocations: vec![invocation] },
        }
    } else {
        let invocations: Vec<DbtInvocation> =
            checked.commands.unwrap_or_default().iter().filter_map(|words| invocation(words)).collect();
        if invocations.is_empty() {
            return None;
        }
        match invocations.iter().find_map(unresolved_words) {
            Some(reason) => DbtRun::Unresolved { reason },
            None => DbtRun::Static { invocations },
        }
    };
    Some(DbtTask { task_id: checked.task_id, operator: checked.operator, run })
}

/// The dbt invocation in one simple command (`[ENV=x] [path/]dbt [global flags] COMMAND [flags]`), if it runs models.
fn invocation(words: &[String]) -> Option<DbtInvocation> {
    let start = words.iter().position(|word| {
        let name = word.rsplit('/').next().unwrap_or(word);
        name == "dbt"
    })?;
    let rest = &words[start + 1..];
    let command_at = rest.iter().position(|word| !word.starts_with('-'))?;
    let command = rest[command_at].as_str();
    if !RUNNING_COMMANDS.contains(&command) {
        return None;
    }
    let mut found =
        DbtInvocation { command: command.to_string(), select: Vec::new(), exclude: Vec::new(), selector: None };
    let mut target: Option<&mut Vec<String>> = None;
    let mut selector_next = false;
    for word in &rest[command_at + 1..] {
        if selector_next {
            found.selector = Some(word.clone());
            selector_next = false;
            continue;
        }
        if word.starts_with('-') {
            let (flag, inline) = match word.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (word.as_str(), None),
            };
            let list = match flag {
                "--select" | "-s" | "--models" | "--model" | "-m" => Some(&mut found.select),
                "--exclude" => Some(&mut found.exclude),
                "--selector" => {
                    match inline {
                        Some(value) => found.selector = Some(value.to_string()),
                        None => selector_next = true,
                    }
                    target = None;
                    continue;
                }
                _ => None,
            };
            target = match list {
                Some(list) => {
                    list.extend(inline.map(str::to_string));
                    Some(list)
                }
                None => None,
            };
            continue;
        }
        if let Some(list) = target.as_deref_mut() {
            list.push(word.clone());
        }
    }
    Some(found)
}

/// Why a selection as written cannot be resolved before the task runs, if it cannot.
fn unresolved_words(invocation: &DbtInvocation) -> Option<String> {
    if let Some(selector) = &invocation.selector {
        return Some(format!("it uses the YAML selector `{selector}`, which dagship does not resolve"));
    }
    let words = invocation.select.iter().chain(&invocation.exclude);
    for word in words {
        if ["{{", "}}", "{%", "$", "`"].iter().any(|mark| word.contains(mark)) {
            return Some(format!("its selection is filled in when the task runs (`{word}`)"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn finds_the_selection_of_a_dbt_command() {
        let found = invocation(&words("/venv/bin/dbt --no-write-json build --target prod -s stg_a+ tag:x --exclude=y"))
            .unwrap();
        assert_eq!(found.command, "build");
        assert_eq!(found.select, ["stg_a+", "tag:x"]);
        assert_eq!(found.exclude, ["y"]);
        assert!(invocation(&words("dbt deps")).is_none());
        assert!(invocation(&words("echo dbt")).is_none());
        let all = invocation(&words("dbt run --full-refresh")).unwrap();
        assert!(all.select.is_empty(), "no selection: every model");
    }

    #[test]
    fn templates_and_variables_are_unresolved() {
        let task = |command: &str| CheckedDbtTask {
            task_id: Some("t".into()),
            operator: "BashOperator".into(),
            commands: Some(vec![words(command)]),
            cosmos: None,
            unresolved: None,
        };
        for command in ["dbt run --select {{ params.models }}", "dbt build -s $MODELS", "dbt run --selector nightly"] {
            let found = dbt_task(task(command)).unwrap();
            assert!(matches!(found.run, DbtRun::Unresolved { .. }), "{command}: {found:?}");
        }
        assert!(matches!(dbt_task(task("dbt build -s a")).unwrap().run, DbtRun::Static { .. }));
        assert!(dbt_task(task("dbt deps")).is_none());
    }
}
