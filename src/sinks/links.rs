//! The helpers' symlinks (`docker-credential-gcp-token-agent` -> this binary): Docker and git
//! find helpers by name on PATH, and the binary answers by the name it is run as.

use std::{
    fs,
    io::{self, ErrorKind},
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

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

/// What [`install_unless_foreign`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Made {
    /// The link is there (made, replaced, or already right).
    Linked(PathBuf),
    /// Another program is there (not a link to a `gcp-token-agent`): left alone.
    LeftAlone(PathBuf),
}

/// Makes `dir/name` a symlink to `target` unless another program is there: a file, or a link
/// to something not named `gcp-token-agent` (e.g. Google's own plugin, a real binary or the
/// SDK's link to one), which is replaced only when `replace_foreign`.
pub(crate) fn install_unless_foreign(
    dir: &Path,
    name: &str,
    target: &Path,
    replace_foreign: bool,
) -> Result<Made> {
    let link = dir.join(name);
    let ours = |current: &Path| {
        current == target
            || current.file_name().is_some_and(|n| n == "gcp-token-agent")
            || same_file(current, target)
    };
    let write_error = |source| Error::WriteFile { path: link.clone(), source };
    match fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let current = fs::read_link(&link).map_err(write_error)?;
            if current == target {
                return Ok(Made::Linked(link));
            }
            let resolved = if current.is_relative() { dir.join(&current) } else { current };
            if !ours(&resolved) && !replace_foreign {
                return Ok(Made::LeftAlone(link));
            }
        }
        Ok(meta) if meta.is_dir() => {
            return Err(Error::usage("--install-links", format!("{} is a directory", link.display())));
        }
        Ok(_) if !replace_foreign => return Ok(Made::LeftAlone(link)),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(write_error(source)),
    }
    replace(&link, target).map_err(write_error)?;
    Ok(Made::Linked(link))
}

/// Whether two paths are the same file (a link to a copy elsewhere is not).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
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
    fn a_foreign_plugin_is_left_alone_unless_replacing_is_asked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("gcp-token-agent");
        fs::write(&binary, "#!/bin/sh\n").expect("write");
        let link = dir.path().join("plugin");
        assert_eq!(
            install_unless_foreign(dir.path(), "plugin", &binary, false).expect("made"),
            Made::Linked(link.clone())
        );
        assert_eq!(fs::read_link(&link).expect("link"), binary);
        // An older install's link (to a gcp-token-agent elsewhere) is ours: replaced.
        fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink("/old/bin/gcp-token-agent", &link).expect("old");
        assert_eq!(
            install_unless_foreign(dir.path(), "plugin", &binary, false).expect("made"),
            Made::Linked(link.clone())
        );
        assert_eq!(fs::read_link(&link).expect("link"), binary);
        // Google's plugin, as a binary or the SDK's link to it, is not.
        let sdk = dir.path().join("sdk-plugin");
        fs::write(&sdk, "ELF").expect("write");
        fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink(&sdk, &link).expect("sdk link");
        assert_eq!(
            install_unless_foreign(dir.path(), "plugin", &binary, false).expect("ok"),
            Made::LeftAlone(link.clone())
        );
        assert_eq!(fs::read_link(&link).expect("link"), sdk, "untouched");
        fs::remove_file(&link).expect("rm");
        fs::write(&link, "ELF").expect("binary");
        assert_eq!(
            install_unless_foreign(dir.path(), "plugin", &binary, false).expect("ok"),
            Made::LeftAlone(link.clone())
        );
        assert_eq!(fs::read_to_string(&link).expect("read"), "ELF");
        assert_eq!(
            install_unless_foreign(dir.path(), "plugin", &binary, true).expect("made"),
            Made::Linked(link.clone())
        );
        assert_eq!(fs::read_link(&link).expect("link"), binary, "replaced when asked");
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
