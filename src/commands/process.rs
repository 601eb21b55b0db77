//! What every face does to its own process: keep secrets out of core dumps, and say so
//! when stdout cannot take the answer.

use std::io::Write as _;

use crate::error::{Error, Result};

/// Marks the process not dumpable (`PR_SET_DUMPABLE=0`): no core file, and other processes
/// of the same user cannot read its memory through `/proc` or `ptrace`. The tokens and keys
/// it holds never land on disk in a crash. A kernel that refuses leaves the process as it was.
pub fn harden() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// Writes the answer to stdout; a failing stdout (`>/dev/full`, a closed pipe) is an error
/// (exit 1), not a silent loss.
///
/// A stdout closed with `>&-` cannot be seen: Rust's runtime reopens it on `/dev/null`
/// (read-write) before `main`, which is exactly what a caller that discards the answer on
/// purpose passes (Python's `subprocess.DEVNULL`). Refusing that would break every caller that
/// looks only at the exit code, so both count as a stdout that took the answer.
pub fn print_answer(answer: &str) -> Result<()> {
    if answer.is_empty() {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(answer.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Internal(format!("cannot write the answer to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_not_dumpable_once_hardened() {
        super::harden();
        let behavior = rustix::process::dumpable_behavior().expect("prctl");
        assert_eq!(behavior, rustix::process::DumpableBehavior::NotDumpable);
    }
}
