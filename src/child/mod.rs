//! Children that run a pull request's code (DAG imports, dbt): the one place that decides what they inherit
//! (`env`), how their output is read (`lines`), what they may have written behind dagship's back
//! (`file_commands`), and how they and whatever they started are stopped.
pub mod env;
pub mod file_commands;
pub mod lines;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Once;

pub use env::Purpose;
pub use file_commands::Snapshot;

/// Sets `command` up to run untrusted code: the environment from [`env::for_child`] and a process group of its
/// own (so [`stop_group`] reaches what it starts in the background). The first call also makes dagship's own
/// process non-dumpable: a child running as the same user can otherwise read the token and the file-command
/// paths from /proc/<dagship's pid>/environ, whatever environment it was given.
pub fn contain(command: &mut Command, purpose: Purpose, named: &[String], configured: &BTreeMap<String, String>) {
    static PROTECT: Once = Once::new();
    PROTECT.call_once(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integers and changes only this process's flag.
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
    });
    command.env_clear().envs(env::for_child(purpose, named, configured)).process_group(0);
}

/// Kills what is left of the child's process group (background processes a DAG file or a macro started).
pub fn stop_group(child_id: u32) {
    let Ok(group) = i32::try_from(child_id) else { return };
    // SAFETY: kill(2) with a negative pid signals the process group the child leads; no memory is involved.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}
