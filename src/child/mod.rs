//! Children that run a pull request's code (DAG imports, dbt): the one place that decides what they inherit
//! (`env`), how their output is read (`lines`), what they may have written behind dagship's back
//! (`file_commands`), and how they and whatever they started are stopped.
pub mod env;
pub mod file_commands;
pub mod lines;
pub mod own_environ;

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
    // A child running as root (a container's default user) keeps CAP_SYS_PTRACE on a host, which reads a
    // non-dumpable process's environ all the same: take it out of the child's bounding set. Without the
    // privilege to do so, the child has no such capability to lose, and the call fails harmlessly.
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs between fork and exec and only makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0);
            Ok(())
        });
    }
}

/// linux/capability.h
#[cfg(target_os = "linux")]
const CAP_SYS_PTRACE: libc::c_ulong = 19;

/// Kills what is left of the child's process group (background processes a DAG file or a macro started).
pub fn stop_group(child_id: u32) {
    let Ok(group) = i32::try_from(child_id) else { return };
    // SAFETY: kill(2) with a negative pid signals the process group the child leads; no memory is involved.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}
