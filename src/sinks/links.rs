//! The helpers' symlinks (`docker-credential-gcp-token-agent` -> this binary): Docker and git
//! find helpers by name on PATH, and the binary answers by the name it is run as.

use std::{
    ffi::OsStr,
    fs,
    io::{self, ErrorKind},
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// The names Docker and git run credential helpers by: symlinks to this binary.
pub(crate) const DOCKER_HELPER: &str = "docker-credential-gcp-token-agent";
/// See [`DOCKER_HELPER`].
pub(crate) const GIT_HELPER: &str = "git-credential-gcp-token-agent";

/// kubectl's `gke-gcloud-auth-plugin` link, which is not made where it would hide another
/// program of that name (Google's plugin).
pub(crate) struct Plugin<'a> {
    /// The link's name.
    pub(crate) name: &'a str,
    /// Replace, or come before on PATH, another program of that name (`--replace-gke-plugin`).
    pub(crate) replace_foreign: bool,
    /// PATH, searched for another program of that name outside the directory.
    pub(crate) path: Option<&'a OsStr>,
}

/// What [`install`] did with the plugin's link.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Made {
    /// The link is there (made, replaced, or already right).
    Linked(PathBuf),
    /// Another program is there (not a link to a `gcp-token-agent`): left alone.
    LeftAlone(PathBuf),
    /// Not made: another program of that name is on PATH (here), which a link could hide.
    WouldHide(PathBuf),
}

/// Makes `dir/NAME` a symlink to `target` for each of `names`, and the plugin's unless another
/// program is there or elsewhere on PATH (see [`plan_plugin`]). Existing symlinks (an older
/// install's) are replaced atomically; any other file in the way of a helper's link is refused,
/// never overwritten, and then none is touched: every link is checked before any is made.
pub(crate) fn install(
    dir: &Path,
    names: &[&str],
    plugin: &Plugin,
    target: &Path,
) -> Result<(Vec<PathBuf>, Made)> {
    let links: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    let mut stale = Vec::new();
    for link in &links {
        if helper_is_stale(link, target)? {
            stale.push(link.clone());
        }
    }
    let made = match plan_plugin(dir, plugin, target)? {
        Plan::Write(link) => {
            stale.push(link.clone());
            Made::Linked(link)
        }
        Plan::Done(made) => made,
    };
    for link in &stale {
        replace(link, target).map_err(|source| Error::WriteFile { path: link.clone(), source })?;
    }
    Ok((links, made))
}

/// Whether a helper's link needs (re)writing; an error when another file is in its way.
fn helper_is_stale(link: &Path, target: &Path) -> Result<bool> {
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Ok(fs::read_link(link).map_or(true, |current| current != target))
        }
        Ok(_) => Err(Error::usage(
            "--install-links",
            format!(
                "{} exists and is not a symbolic link; remove it or pick another directory",
                link.display()
            ),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
        Err(source) => Err(Error::WriteFile { path: link.to_path_buf(), source }),
    }
}

/// The plugin's link, decided before any link is made.
enum Plan {
    /// Make or replace it.
    Write(PathBuf),
    /// Nothing to write.
    Done(Made),
}

/// Writes `dir/name` unless another program would lose: one there (a file, or a link to
/// something not named `gcp-token-agent`, e.g. Google's binary or the SDK's link to it), or,
/// when there is none yet, one elsewhere on PATH that the new link could come before; either
/// is overridden only by `replace_foreign`. A directory there is an error.
fn plan_plugin(dir: &Path, plugin: &Plugin, target: &Path) -> Result<Plan> {
    let link = dir.join(plugin.name);
    let write_error = |source| Error::WriteFile { path: link.clone(), source };
    match fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let current = fs::read_link(&link).map_err(write_error)?;
            if current == target {
                return Ok(Plan::Done(Made::Linked(link)));
            }
            let resolved = if current.is_relative() { dir.join(&current) } else { current };
            if !ours(&resolved, target) && !plugin.replace_foreign {
                return Ok(Plan::Done(Made::LeftAlone(link)));
            }
        }
        Ok(meta) if meta.is_dir() => {
            return Err(Error::usage("--install-links", format!("{} is a directory", link.display())));
        }
        Ok(_) if !plugin.replace_foreign => return Ok(Plan::Done(Made::LeftAlone(link))),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(found) = foreign_on_path(plugin, dir, target).filter(|_| !plugin.replace_foreign) {
                return Ok(Plan::Done(Made::WouldHide(found)));
            }
        }
        Err(source) => return Err(write_error(source)),
    }
    Ok(Plan::Write(link))
}

/// Whether a link's target is this binary or another install's (named `gcp-token-agent`).
fn ours(current: &Path, target: &Path) -> bool {
    current == target
        || current.file_name().is_some_and(|n| n == "gcp-token-agent")
        || same_file(current, target)
}

/// The first executable `plugin.name` on PATH, outside `dir`, that is not this binary nor a
/// link to a `gcp-token-agent`.
fn foreign_on_path(plugin: &Plugin, dir: &Path, target: &Path) -> Option<PathBuf> {
    let dirs = plugin.path.map(|p| std::env::split_paths(p).collect::<Vec<_>>()).unwrap_or_default();
    let ours_at = |found: &Path| match fs::read_link(found) {
        Ok(current) => {
            let resolved = found.parent().map_or(current.clone(), |parent| parent.join(&current));
            ours(&resolved, target)
        }
        Err(_) => same_file(found, target),
    };
    dirs.iter()
        .filter(|other| !same_file(other, dir) && other.as_path() != dir)
        .map(|other| other.join(plugin.name))
        .find(|found| executable(found) && !ours_at(found))
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
pub(crate) fn on_path(path: Option<&OsStr>, name: &str) -> bool {
    let dirs = path.map(|p| std::env::split_paths(p).collect::<Vec<_>>()).unwrap_or_default();
    dirs.iter().any(|dir| executable(&dir.join(name)))
}

/// Whether `path` is (or links to) a file with an execute bit.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plugin's link as `configure-docker` asks for it, with PATH `path`.
    fn plugin(replace_foreign: bool, path: Option<&OsStr>) -> Plugin<'_> {
        Plugin { name: "plugin", replace_foreign, path }
    }

    #[test]
    fn links_are_made_and_stale_ones_replaced_but_files_are_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("gcp-token-agent");
        fs::write(&binary, "#!/bin/sh\n").expect("write");
        let (made, _) =
            install(dir.path(), &["docker-credential-x"], &plugin(false, None), &binary).expect("made");
        assert_eq!(made, [dir.path().join("docker-credential-x")]);
        assert_eq!(fs::read_link(&made[0]).expect("link"), binary);
        let git = dir.path().join("git-credential-x");
        std::os::unix::fs::symlink("/old/gcp-token-agent", &git).expect("stale");
        install(dir.path(), &["docker-credential-x", "git-credential-x"], &plugin(false, None), &binary)
            .expect("replaced");
        assert_eq!(fs::read_link(&git).expect("link"), binary);

        let file = dir.path().join("docker-credential-y");
        fs::write(&file, "someone else's helper").expect("write");
        fs::remove_file(&git).expect("rm");
        std::os::unix::fs::symlink("/old/gcp-token-agent", &git).expect("stale");
        fs::remove_file(dir.path().join("plugin")).expect("rm");
        let refused =
            install(dir.path(), &["git-credential-x", "docker-credential-y"], &plugin(false, None), &binary)
                .expect_err("refused")
                .to_string();
        assert!(refused.contains("--install-links") && refused.contains("not a symbolic link"), "{refused}");
        assert_eq!(fs::read_to_string(&file).expect("read"), "someone else's helper");
        assert_eq!(fs::read_link(&git).expect("link"), Path::new("/old/gcp-token-agent"), "nothing touched");
        assert!(!dir.path().join("plugin").exists(), "not even the plugin's");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 4, "no temp links left");
    }

    #[test]
    fn a_directory_where_the_plugin_goes_is_refused_before_any_link_is_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("gcp-token-agent");
        fs::write(&binary, "#!/bin/sh\n").expect("write");
        fs::create_dir(dir.path().join("plugin")).expect("mkdir");
        let refused = install(dir.path(), &["docker-credential-x"], &plugin(true, None), &binary)
            .expect_err("a directory")
            .to_string();
        assert!(refused.contains("--install-links") && refused.contains("is a directory"), "{refused}");
        assert!(!dir.path().join("docker-credential-x").exists(), "no helper's link either");
    }

    #[test]
    fn a_foreign_plugin_is_left_alone_unless_replacing_is_asked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("gcp-token-agent");
        fs::write(&binary, "#!/bin/sh\n").expect("write");
        let link = dir.path().join("plugin");
        let only_plugin = |replace_foreign| install(dir.path(), &[], &plugin(replace_foreign, None), &binary);
        assert_eq!(only_plugin(false).expect("made").1, Made::Linked(link.clone()));
        assert_eq!(fs::read_link(&link).expect("link"), binary);
        // An older install's link (to a gcp-token-agent elsewhere) is ours: replaced.
        fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink("/old/bin/gcp-token-agent", &link).expect("old");
        assert_eq!(only_plugin(false).expect("made").1, Made::Linked(link.clone()));
        assert_eq!(fs::read_link(&link).expect("link"), binary);
        // Google's plugin, as a binary or the SDK's link to it, is not.
        let sdk = dir.path().join("sdk-plugin");
        fs::write(&sdk, "ELF").expect("write");
        fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink(&sdk, &link).expect("sdk link");
        assert_eq!(only_plugin(false).expect("ok").1, Made::LeftAlone(link.clone()));
        assert_eq!(fs::read_link(&link).expect("link"), sdk, "untouched");
        fs::remove_file(&link).expect("rm");
        fs::write(&link, "ELF").expect("binary");
        assert_eq!(only_plugin(false).expect("ok").1, Made::LeftAlone(link.clone()));
        assert_eq!(fs::read_to_string(&link).expect("read"), "ELF");
        assert_eq!(only_plugin(true).expect("made").1, Made::Linked(link.clone()));
        assert_eq!(fs::read_link(&link).expect("link"), binary, "replaced when asked");
    }

    #[test]
    fn a_foreign_plugin_elsewhere_on_path_is_not_hidden_unless_asked() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, elsewhere) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let binary = dir.path().join("gcp-token-agent");
        fs::write(&binary, "#!/bin/sh\n").expect("write");
        let google = elsewhere.path().join("plugin");
        fs::write(&google, "ELF").expect("write");
        let path = std::env::join_paths([dir.path(), elsewhere.path()]).expect("join");
        let run = |replace_foreign| {
            install(dir.path(), &["helper"], &plugin(replace_foreign, Some(&path)), &binary)
        };
        // Not executable: not a program kubectl would run.
        assert_eq!(run(false).expect("made").1, Made::Linked(dir.path().join("plugin")));
        fs::remove_file(dir.path().join("plugin")).expect("rm");
        fs::set_permissions(&google, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(run(false).expect("ok").1, Made::WouldHide(google.clone()));
        assert!(!dir.path().join("plugin").exists() && dir.path().join("helper").exists());
        // A link there to this binary (or another gcp-token-agent) is ours, not Google's.
        fs::remove_file(&google).expect("rm");
        let other = elsewhere.path().join("gcp-token-agent");
        fs::write(&other, "ELF").expect("write");
        fs::set_permissions(&other, fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink("gcp-token-agent", &google).expect("ours");
        assert_eq!(run(false).expect("made").1, Made::Linked(dir.path().join("plugin")));
        fs::remove_file(dir.path().join("plugin")).expect("rm");
        fs::remove_file(&google).expect("rm");
        fs::write(&google, "ELF").expect("write");
        fs::set_permissions(&google, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(run(true).expect("made").1, Made::Linked(dir.path().join("plugin")), "when asked");
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
