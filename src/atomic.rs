//! Atomic file replacement: a reader sees the old file or the new one, never a mix.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// Replaces `path` with `contents`: temp file in the same directory, write, optionally fsync,
/// chmod `mode` (whatever the umask), rename over the target, optionally fsync the directory.
///
/// `durable` costs two fsyncs; token files on a shared volume want it, a cache does not.
pub(crate) fn write(path: &Path, contents: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let temp = temp_path(path);
    let result = write_temp(&temp, contents, mode, durable).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    if durable {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Like [`write()`] for a path the user names (`--ready-file`): a symlink is written through to
/// its target, never replaced, and only a regular file (or nothing) is replaced: a device,
/// FIFO, socket or directory at the path is an error, even for root.
pub(crate) fn write_regular(path: &Path, contents: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
            io::Error::new(e.kind(), format!("is a symlink whose target cannot be resolved ({e})"))
        })?,
        _ => path.to_owned(),
    };
    match fs::symlink_metadata(&target) {
        Ok(meta) if !meta.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file (a device, FIFO, socket or directory is never replaced)",
        )),
        Ok(_) => write(&target, contents, mode, durable),
        Err(e) if e.kind() == io::ErrorKind::NotFound => write(&target, contents, mode, durable),
        Err(e) => Err(e),
    }
}

fn write_temp(temp: &Path, contents: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(temp)?;
    file.write_all(contents)?;
    // The open mode is filtered by the umask; set it explicitly so every write has `mode`.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    if durable {
        file.sync_all()?;
    }
    Ok(())
}

/// `.NAME.PID.RANDOM.tmp` beside the target: same filesystem, so the rename is atomic, and
/// unique per writer, so concurrent writers never share a temp file.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let unique = format!(".{name}.{}.{:016x}.tmp", std::process::id(), fastrand::u64(..));
    path.with_file_name(unique)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt as _;

    use super::*;

    #[test]
    fn replaces_contents_and_applies_mode_despite_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        write(&path, b"one", 0o600, true).expect("first write");
        write(&path, b"two", 0o640, false).expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers = fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temp files are left behind");
    }

    #[test]
    fn a_named_path_is_written_through_a_symlink_and_a_device_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target.json");
        fs::write(&target, b"old").expect("write");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        write_regular(&link, b"new", 0o644, false).expect("through the link");
        assert!(fs::symlink_metadata(&link).expect("meta").file_type().is_symlink(), "still a link");
        assert_eq!(fs::read(&target).expect("read"), b"new");
        let device = Path::new("/dev/null");
        assert!(write_regular(device, b"x", 0o644, false).is_err(), "a device");
        assert!(fs::metadata(device).expect("meta").file_type().is_char_device());
        assert!(write_regular(dir.path(), b"x", 0o644, false).is_err(), "a directory");
        write_regular(&dir.path().join("fresh.json"), b"x", 0o644, false).expect("a new file");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent").join("token");
        assert!(write(&path, b"x", 0o600, true).is_err());
    }
}
