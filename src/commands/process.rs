//! What every face does to its own process: keep secrets out of core dumps, and hand the
//! answer to stdout only when stdout can take it.

use std::io::Write as _;

use crate::error::{Error, Result};

/// Marks the process not dumpable (`PR_SET_DUMPABLE=0`): no core file, and other processes
/// of the same user cannot read its memory through `/proc` or `ptrace`. The tokens and keys
/// it holds never land on disk in a crash. A kernel that refuses leaves the process as it was.
pub fn harden() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// Whether file descriptor 1 is open. The standard library treats a closed stdout (`>&-`) as
/// a sink that swallows everything, so a token printed there would be lost with exit 0.
pub fn stdout_is_open() -> bool {
    use std::os::fd::AsFd as _;
    rustix::io::fcntl_getfd(std::io::stdout().as_fd()).is_ok()
}

/// Writes the answer to stdout; a closed or failing stdout is an error (exit 1), not a silent loss.
pub fn print_answer(answer: &str) -> Result<()> {
    if answer.is_empty() {
        return Ok(());
    }
    if !stdout_is_open() {
        return Err(Error::Internal("stdout is closed; the answer was not printed".to_owned()));
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(answer.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Internal(format!("cannot write the answer to stdout: {e}")))
}
