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

/// Whether stdout was open when the process started. A closed stdout (`>&-`) is reopened on
/// `/dev/null` by Rust's runtime before `main` (so that no later file lands on descriptor 1),
/// read-write; a shell's `>/dev/null` opens it write-only. So `/dev/null` opened read-write
/// on descriptor 1 means the caller closed stdout, and a token printed there would be lost
/// with exit 0.
pub fn stdout_is_open() -> bool {
    use std::os::fd::AsFd as _;
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let (Ok(flags), Ok(stat)) = (rustix::fs::fcntl_getfl(fd), rustix::fs::fstat(fd)) else {
        return false;
    };
    let dev_null = rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::CharacterDevice
        && rustix::fs::major(stat.st_rdev) == 1
        && rustix::fs::minor(stat.st_rdev) == 3;
    !(dev_null && flags & rustix::fs::OFlags::RWMODE == rustix::fs::OFlags::RDWR)
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_not_dumpable_once_hardened() {
        super::harden();
        let behavior = rustix::process::dumpable_behavior().expect("prctl");
        assert_eq!(behavior, rustix::process::DumpableBehavior::NotDumpable);
    }
}
