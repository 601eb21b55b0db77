//! The helpers' symlinks (`docker-credential-gcp-token-agent` -> this binary): Docker and git
//! find helpers by name on PATH, and the binary answers by the name it is run as.

use std::{
    fs,
    io::{self, ErrorKind},
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// The names Docker and git run credential helpers by: symlinks to this binary.
pub(crate) const DOCKER_HELPER: &str = "docker-credential-gcp-token-agent";
/// See [`DOCKER_HELPER`].
pub(crate) const GIT_HELPER: &str = "git-credential-gcp-token-agent";

/// Makes `dir/NAME` a symlink to `target` for each of `names`. Existing symlinks (an older
/// install's) are replaced atomically; any other file there is refused, never overwritten,
/// and then none is touched.
pub(crate) fn install(dir: &Path, names: &[&str], target: &Path) -> Result<Vec<PathBuf>> {
    let links: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    let mut stale = Vec::new();
    for link in &links {
        match fs::symlink_metadata(link) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if fs::read_link(link).map_or(true, |current| current != target) {
                    stale.push(link);
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
            Err(e) if e.kind() == ErrorKind::NotFound => stale.push(link),
            Err(source) => return Err(Error::WriteFile { path: link.clone(), source }),
        }
    }
    for link in stale {
        replace(link, target).map_err(|source| Error::WriteFile { path: link.clone(), source })?;
    }
    Ok(links)
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
        let made = install(dir.path(), &["docker-credential-x"], &binary).expect("made");
        assert_eq!(made, [dir.path().join("docker-credential-x")]);
        assert_eq!(fs::read_link(&made[0]).expect("link"), binary);
        let git = dir.path().join("git-credential-x");
        std::os::unix::fs::symlink("/old/gcp-token-agent", &git).expect("stale");
        install(dir.path(), &["docker-credential-x", "git-credential-x"], &binary).expect("replaced");
        assert_eq!(fs::read_link(&git).expect("link"), binary);

        let file = dir.path().join("docker-credential-y");
        fs::write(&file, "someone else's helper").expect("write");
        fs::remove_file(&git).expect("rm");
        std::os::unix::fs::symlink("/old/gcp-token-agent", &git).expect("stale");
        let refused = install(dir.path(), &["git-credential-x", "docker-credential-y"], &binary)
            .expect_err("refused")
            .to_string();
        assert!(refused.contains("--install-links") && refused.contains("not a symbolic link"), "{refused}");
        assert_eq!(fs::read_to_string(&file).expect("read"), "someone else's helper");
        assert_eq!(fs::read_link(&git).expect("link"), Path::new("/old/gcp-token-agent"), "nothing touched");
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
