//! dagship's own initial environment, as /proc/<pid>/environ shows it, wiped at start-up. A child running a
//! pull request's code as the same user reads its parent's /proc/<ppid>/environ (the token, the file-command
//! paths) whatever environment it was given: a non-dumpable parent stops a non-root child, but not a root one
//! on every kernel (measured: root without CAP_SYS_PTRACE still read it on this project's CI kernel). That file
//! is the memory block the kernel laid out at exec; once every variable is set again (libc copies it to the
//! heap), the block holds nothing dagship reads, and it is zeroed.
use std::ops::Range;

/// Moves the environment to the heap and zeroes the original block. Call first thing in `main`, before any
/// thread starts (setting variables is not thread-safe).
pub fn wipe() {
    #[cfg(target_os = "linux")]
    {
        let Some(block) = env_block() else { return };
        for (name, value) in std::env::vars_os() {
            // SAFETY: no other thread runs yet (the caller's contract), so nothing reads the environment.
            unsafe { std::env::set_var(&name, &value) };
        }
        if !points_into(&block) {
            // SAFETY: [env_start, env_end) is this process's own initial environment block (the kernel's
            // numbers from /proc/self/stat), mapped writable on the main stack; no environment pointer refers
            // to it any more (checked just above).
            unsafe { std::ptr::write_bytes(block.start as *mut u8, 0, block.end - block.start) };
        }
    }
}

/// Whether any entry of libc's `environ` still lies in `block`.
#[cfg(target_os = "linux")]
fn points_into(block: &Range<usize>) -> bool {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: `environ` is libc's NULL-terminated array of entries; no other thread changes it yet.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            if block.contains(&(*entry as usize)) {
                return true;
            }
            entry = entry.add(1);
        }
    }
    false
}

/// The kernel's env_start..env_end for this process (fields 50 and 51 of /proc/self/stat).
fn env_block() -> Option<Range<usize>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: field 3 is index 0.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let start: usize = fields.get(50 - 3)?.parse().ok()?;
    let end: usize = fields.get(51 - 3)?.parse().ok()?;
    (start != 0 && end > start && end - start < (64 << 20)).then_some(start..end)
}
