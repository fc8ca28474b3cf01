//! Where the human report goes, and what a failed write means.
//!
//! The report goes to stdout, or to stderr when stdout carries an export (`--json -`).
//! Every write is checked and flushed:
//! - a reader that went away (`zerowin run ... | head -1`) ends the run quietly, as
//!   ripgrep does: [`OutputClosed`], which `main` turns into exit 0 after stopping
//!   every sender;
//! - any other failure (`> /dev/full`) is an error, exit 2.
//!
//! Control characters in the report are escaped (newlines excepted), so a hostile
//! scenario string cannot drive the terminal; [`clean`] escapes newlines too, for a
//! user's string shown inline.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};

use anyhow::Result;

use crate::sys;
pub use crate::words::{clean, escape_controls};

/// The reader of the output went away: the run ends quietly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputClosed;

impl std::fmt::Display for OutputClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the output's reader has gone")
    }
}

impl std::error::Error for OutputClosed {}

/// Which standard stream a text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn fd(self) -> RawFd {
        match self {
            Stream::Stdout => io::stdout().as_raw_fd(),
            Stream::Stderr => io::stderr().as_raw_fd(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// Writes and flushes all of `bytes`; a closed reader is [`OutputClosed`].
    pub fn write(self, bytes: &[u8]) -> Result<()> {
        let r = match self {
            Stream::Stdout => {
                let mut o = io::stdout().lock();
                o.write_all(bytes).and_then(|()| o.flush())
            }
            Stream::Stderr => {
                let mut o = io::stderr().lock();
                o.write_all(bytes).and_then(|()| o.flush())
            }
        };
        r.map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => anyhow::Error::new(OutputClosed),
            _ => anyhow::anyhow!("writing to {}: {e}", self.name()),
        })
    }
}

/// The human report's destination.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    stream: Stream,
    /// False with `--json - --quiet`: nothing but the JSON is written.
    enabled: bool,
}

impl Out {
    /// The report's destination beside an export: stderr when the export takes stdout.
    pub fn beside(export_on_stdout: bool) -> Out {
        Out::new(
            if export_on_stdout {
                Stream::Stderr
            } else {
                Stream::Stdout
            },
            true,
        )
    }

    pub fn new(stream: Stream, enabled: bool) -> Out {
        Out { stream, enabled }
    }

    /// Writes `text`, control characters escaped, and flushes it.
    pub fn print(&self, text: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.stream.write(escape_controls(text, true).as_bytes())
    }

    /// The terminal's width when the report goes to a terminal.
    pub fn width(&self) -> Option<u16> {
        sys::terminal_width(self.stream.fd())
    }

    /// [`OutputClosed`] when the report goes to stderr and its reader has gone, asked
    /// between trials. (Stdout is watched all along by [`crate::process::stop_when_closed`].)
    pub fn check_open(&self) -> Result<()> {
        let closed = self.enabled
            && self.stream == Stream::Stderr
            && sys::write_end_closed(self.stream.fd());
        if closed {
            return Err(OutputClosed.into());
        }
        Ok(())
    }
}

/// A progress or warning line on stderr. It never fails the run: losing a progress
/// line is no reason to stop trials.
pub fn note(text: &str) {
    let _ = writeln!(io::stderr(), "{}", escape_controls(text, true));
}
