//! The work-tree check of a deploy (`git status` of the deployed paths), taken when the commit is staged and
//! read when the plan is made. It must see the work tree before dagship's own steps write into it (dbt's
//! exposure pull rewrites files under the deployed folders): run on a thread beside them, it raced with those
//! writes and refused the deploy as dirty (found by `dbt::deploys_publish_packages_with_delete_and_pull_exposures_first`
//! in a clean run). So git runs at once, in staging; on a fresh checkout that costs 0.3 s for 7,000 files.
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::DeployError;
use crate::git::{Git, WorkTreeChanges};

/// The check's answer, awaited by every plan made from one staged commit (a plan made again under the lock too).
#[derive(Clone)]
pub struct WorkTreeCheck(Shared<BoxFuture<'static, Result<WorkTreeChanges, String>>>);

impl WorkTreeCheck {
    /// No comparison: the commit staged is not the work tree's (another revision, a ledger record's objects).
    pub fn none() -> WorkTreeCheck {
        WorkTreeCheck(futures::future::ready(Ok(WorkTreeChanges::default())).boxed().shared())
    }

    /// Runs `git status` of `pathspecs` now (blocking: staging runs off the async threads); a failure is
    /// reported when the plan reads the answer, before any write.
    pub fn start(git: Git, pathspecs: Vec<String>) -> WorkTreeCheck {
        let answer = git.work_tree_changes(&pathspecs).map_err(|err| err.to_string());
        WorkTreeCheck(futures::future::ready(answer).boxed().shared())
    }

    /// The tracked files that differ from the commit and the untracked ones, once git has answered.
    pub async fn changes(&self) -> Result<WorkTreeChanges, DeployError> {
        self.0.clone().await.map_err(DeployError::Input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let status = Command::new("git").arg("-C").arg(dir).args(args).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[tokio::test]
    async fn the_answer_is_the_work_trees_and_every_plan_reads_the_same_one() {
        let repo = tempfile::tempdir().unwrap();
        git(repo.path(), &["init", "-q"]);
        std::fs::create_dir(repo.path().join("dags")).unwrap();
        std::fs::write(repo.path().join("dags/a.py"), "a = 1\n").unwrap();
        git(repo.path(), &["add", "."]);
        git(repo.path(), &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"]);
        std::fs::write(repo.path().join("dags/a.py"), "a = 2\n").unwrap();
        std::fs::write(repo.path().join("dags/new.py"), "b = 1\n").unwrap();
        std::fs::write(repo.path().join("outside.py"), "c = 1\n").unwrap();

        let check = WorkTreeCheck::start(Git::discover(repo.path()).unwrap(), vec!["dags".into()]);
        let (first, second) = (check.changes().await.unwrap(), check.clone().changes().await.unwrap());
        assert_eq!(first.changed, vec!["dags/a.py".to_string()]);
        assert_eq!(first.untracked, vec!["dags/new.py".to_string()]);
        assert_eq!((second.changed, second.untracked), (first.changed, first.untracked));
        assert!(WorkTreeCheck::none().changes().await.unwrap().changed.is_empty());
    }

    #[tokio::test]
    async fn a_failing_git_is_an_error_naming_it() {
        let repo = tempfile::tempdir().unwrap();
        git(repo.path(), &["init", "-q"]);
        let git_handle = Git::discover(repo.path()).unwrap();
        drop(repo); // the repository is gone before git runs
        let err = WorkTreeCheck::start(git_handle, vec!["dags".into()]).changes().await.unwrap_err();
        assert!(err.to_string().contains("git"), "{err}");
    }
}
