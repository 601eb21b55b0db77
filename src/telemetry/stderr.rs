//! Where log lines go: stderr, one event to one line, and never a panic.
//!
//! tracing-subscriber's writer is `io::stderr` by default, and a failed write makes it print a
//! complaint with `eprintln!`, which panics when stderr is gone (`2>/dev/full`, a reader that
//! went away). A log line that cannot be written is dropped and the process goes on. Each
//! event's control characters (a newline in an upstream's words, a terminal escape) are
//! escaped, so one event is one line and no text forges another.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Makes a [`Line`] per event.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line
    }
}

/// One formatted event, written to stderr in one call.
#[derive(Debug)]
pub(crate) struct Line;

impl Write for Line {
    /// The formatter hands over a whole event ending in `\n`: everything before that newline
    /// is escaped; a failed write is reported as written, so nothing upstream complains.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        let mut line = crate::scrub::escape(&String::from_utf8_lossy(body));
        line.push('\n');
        let _ = io::stderr().lock().write_all(line.as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reports_every_byte_written_whatever_stderr_does() {
        let event = b"a\nforged\x1b[0m\n";
        assert_eq!(Line.write(event).ok(), Some(event.len()));
        assert!(Line.flush().is_ok());
    }
}
