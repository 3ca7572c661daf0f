//! Which dbt target a run uses, in one place: `--target`, else DBT_TARGET (dbt's own variable, which a plain
//! `dbt` call honours too), else the environment's `dbt_target` in dagship.yml (and its `dbt_check_target` for
//! pull request checks). A flag or the variable names one target for both.

/// The targets a run passes to dbt, and what chose them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// What deploys compile with.
    pub target: String,
    /// What pull request checks compile with.
    pub check_target: String,
    /// `--target`, `DBT_TARGET` or `environments.<name>.dbt_target`: said when it overrides the config.
    pub source: String,
    /// Chosen by the flag or the variable, not by dagship.yml.
    pub overridden: bool,
}

/// The variable dbt itself reads for its `--target`.
pub const TARGET_VARIABLE: &str = "DBT_TARGET";

pub fn choose(
    flag: Option<&str>,
    variable: Option<&str>,
    configured: Option<&str>,
    configured_check: Option<&str>,
    environment: &str,
) -> Option<Targets> {
    let non_empty = |value: Option<&str>| value.map(str::trim).filter(|value| !value.is_empty()).map(str::to_string);
    let one = |target: String, source: &str| Targets {
        check_target: target.clone(),
        target,
        source: source.into(),
        overridden: true,
    };
    if let Some(target) = non_empty(flag) {
        return Some(one(target, "--target"));
    }
    if let Some(target) = non_empty(variable) {
        return Some(one(target, TARGET_VARIABLE));
    }
    let target = non_empty(configured)?;
    Some(Targets {
        check_target: non_empty(configured_check).unwrap_or_else(|| target.clone()),
        target,
        source: format!("environments.{environment}.dbt_target"),
        overridden: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_variable_which_wins_over_the_config() {
        let chosen = |flag, variable| choose(flag, variable, Some("prod"), Some("ci"), "prod").unwrap();
        assert_eq!(chosen(Some("dev"), Some("env")).target, "dev");
        assert_eq!(chosen(Some("dev"), Some("env")).check_target, "dev");
        assert_eq!(chosen(None, Some("env")).source, "DBT_TARGET");
        assert_eq!(chosen(None, Some("env")).check_target, "env");
        let configured = chosen(None, Some(" "));
        assert_eq!((configured.target.as_str(), configured.check_target.as_str()), ("prod", "ci"));
        assert_eq!(choose(None, None, None, None, "prod"), None);
    }
}
