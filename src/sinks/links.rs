//! The helpers' symlinks (`docker-credential-gcp-token-agent` -> this binary): Docker and git
//! find helpers by name on PATH, and the binary answers by the name it is run as.

use std::{
    fs,
    io::{self, ErrorKind},
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// Makes `dir/name` a symlink to `target`. An existing symlink (an older install's) is
/// replaced atomically; any other file there is refused, never overwritten.
pub(crate) fn install(dir: &Path, name: &str, target: &Path) -> Result<PathBuf> {
    let link = dir.join(name);
    match fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if fs::read_link(&link).is_ok_and(|current| current == target) {
                return Ok(link);
            }
        }
        Ok(_) => {
            return Err(Error::usage(
                "--install-links",
                format!(
                    "{} exists and is not a symbolic link; remove it or pick another directory",
                    link.display()
                ),
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(Error::WriteFile { path: link, source }),
    }
    replace(&link, target).map_err(|source| Error::WriteFile { path: link.clone(), source })?;
    Ok(link)
}

/// A new symlink beside `link`, renamed over it: there is never a moment without one.
fn replace(link: &Path, target: &Path) -> io::Result<()> {
    let name = link.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let temp = link.with_file_name(format!(".{name}.{}.{:016x}.tmp", std::process::id(), fastrand::u64(..)));
    std::os::unix::fs::symlink(target, &temp)?;
    fs::rename(&temp, link).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// Whether an executable `name` is in one of `path`'s directories.
pub(crate) fn on_path(path: Option<&std::ffi::OsStr>, name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let dirs = path.map(|p| std::env::split_paths(p).collect::<Vec<_>>()).unwrap_or_default();
    dirs.iter().any(|dir| {
        fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_made_and_stale_ones_replaced_but_files_are_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("gcp-token-agent");
        fs::write(&binary, "#!/bin/sh\n").expect("write");
        let link = install(dir.path(), "docker-credential-x", &binary).expect("made");
        assert_eq!(fs::read_link(&link).expect("link"), binary);
        std::os::unix::fs::symlink("/old/gcp-token-agent", dir.path().join("git-credential-x"))
            .expect("stale");
        let replaced = install(dir.path(), "git-credential-x", &binary).expect("replaced");
        assert_eq!(fs::read_link(replaced).expect("link"), binary);
        assert_eq!(install(dir.path(), "docker-credential-x", &binary).expect("again"), link);
        let file = dir.path().join("docker-credential-y");
        fs::write(&file, "someone else's helper").expect("write");
        let refused = install(dir.path(), "docker-credential-y", &binary).expect_err("refused").to_string();
        assert!(refused.contains("--install-links") && refused.contains("not a symbolic link"), "{refused}");
        assert_eq!(fs::read_to_string(&file).expect("read"), "someone else's helper");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 4, "no temp links left");
    }

    #[test]
    fn a_helper_is_found_only_as_an_executable_on_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let helper = dir.path().join("docker-credential-x");
        fs::write(&helper, "#!/bin/sh\n").expect("write");
        let path = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).expect("join");
        assert!(!on_path(Some(&path), "docker-credential-x"), "not executable");
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(on_path(Some(&path), "docker-credential-x"));
        assert!(!on_path(None, "docker-credential-x"));
    }
}
