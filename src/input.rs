//! Reading the small files the agent is given (credentials, tokens, config, certificates)
//! so that no path can hang it or exhaust its memory: a FIFO, a device such as /dev/zero, a
//! directory or a huge file is refused with an error instead. A leaf module.

use std::{
    fs::{File, Metadata},
    io::{self, Read},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

/// Every file the agent reads is far smaller than this.
pub(crate) const MAX_FILE: u64 = 1 << 20;

/// The bytes of the regular file at `path` (a symlink to one is followed), at most
/// [`MAX_FILE`]. Opened non-blocking, so a FIFO named by mistake never blocks the open.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let (file, meta) = open_regular(path, libc::O_NONBLOCK)?;
    read_capped(file, &meta)
}

fn open_regular(path: &Path, flags: i32) -> io::Result<(File, Metadata)> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what =
            if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("is {what}")));
    }
    Ok((file, meta))
}

/// Like [`read_file`], as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// Sized from the file's metadata, so a file of ordinary size is read in one call (plus the one
/// that sees its end); the cap still bounds a file that grows while it is read.
fn read_capped(file: File, meta: &Metadata) -> io::Result<Vec<u8>> {
    let expected = usize::try_from(meta.len().min(MAX_FILE)).unwrap_or(0);
    read_capped_into(file, MAX_FILE, Vec::with_capacity(expected.saturating_add(1)))
}

/// All of `reader` (a pipe such as stdin), refused once it passes `cap` bytes rather than
/// read into unbounded memory.
pub(crate) fn read_to_end_capped(reader: impl Read, cap: u64) -> io::Result<Vec<u8>> {
    read_capped_into(reader, cap, Vec::new())
}

fn read_capped_into(reader: impl Read, cap: u64, mut bytes: Vec<u8>) -> io::Result<Vec<u8>> {
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        let size = if cap >= 1024 { format!("{} KiB", cap / 1024) } else { format!("{cap} bytes") };
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("is larger than {size}")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_directories_and_huge_files_are_refused_quickly() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(read_file(Path::new("/dev/zero")).is_err());
        assert!(read_file(dir.path()).is_err());
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2 << 20]).expect("write");
        assert!(read_file(&big).expect_err("too big").to_string().contains("larger"));
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        assert!(read_file(&fifo).expect_err("fifo").to_string().contains("FIFO"));
        let small = dir.path().join("small");
        std::fs::write(&small, "ok").expect("write");
        assert_eq!(read_text(&small).expect("reads"), "ok");
    }
}
