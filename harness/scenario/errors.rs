//! Where a scenario's errors point: reading the file (bounded, never blocking), turning
//! offsets into lines, and saying what serde's messages mean in the scenario's words.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::ScenarioError;
use crate::limits::{self, Dur, Int};
use crate::settings::Source;

/// Reads a scenario file: only a regular file (a symlink to one is fine), only up to
/// [`limits::SCENARIO_FILE_MAX`], and never blocking on a FIFO or a device.
pub(super) fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. The
    // checks are made on the opened file, so nothing can be swapped in between.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    let t = meta.file_type();
    let kind = if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    };
    if let Some(kind) = kind {
        return Err(format!(
            "is {kind}, not a regular file; a scenario must be a .toml file"
        ));
    }
    let max = limits::SCENARIO_FILE_MAX;
    if meta.len() > max {
        return Err(format!(
            "is {} bytes, more than the {max} bytes a scenario may have",
            meta.len()
        ));
    }
    let mut text = String::new();
    f.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    if text.len() as u64 > max {
        return Err(format!("grew past {max} bytes while being read"));
    }
    Ok(text)
}

pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    /// The file as [`Source`] sees it: the one place that turns offsets into lines.
    pub(super) fn src(&self) -> Source<'_> {
        Source {
            path: self.path,
            text: self.text,
        }
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.src().line_of(offset)
    }

    pub(super) fn err(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.src().err(span, key, message)
    }

    pub(super) fn int(
        &self,
        v: &Spanned<i64>,
        key: &str,
        range: Int,
    ) -> Result<i64, ScenarioError> {
        range
            .check(*v.get_ref())
            .map_err(|m| self.err(v.span(), key, m))
    }

    pub(super) fn duration(
        &self,
        v: &Spanned<String>,
        key: &str,
        range: Dur,
    ) -> Result<Duration, ScenarioError> {
        range
            .parse(v.get_ref())
            .map_err(|m| self.err(v.span(), key, m))
    }

    /// The line holding a byte offset.
    pub(super) fn line_text(&self, offset: usize) -> &str {
        let offset = offset.min(self.text.len());
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        &self.text[start..end]
    }

    /// The `[section]` header of the table a byte offset is in; None at the top level.
    /// The header's own line counts as inside it.
    pub(super) fn section_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        self.text[..end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('[') && l.ends_with(']'))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    }

    /// `section.key` for a value at a byte offset: the key is what stands before `=`
    /// on the value's line.
    pub(super) fn key_at(&self, offset: usize) -> Option<String> {
        let line = self.line_text(offset);
        let key = line.split_once('=')?.0.trim().trim_matches('"');
        if key.is_empty() || key.starts_with('[') {
            return None;
        }
        Some(match self.section_at(offset) {
            Some(s) => format!("{s}.{key}"),
            None => key.to_string(),
        })
    }

    /// Turns a TOML/serde error into one that names the file, line and key.
    pub(super) fn toml_error(&self, e: toml::de::Error) -> ScenarioError {
        let msg = e.message().trim().to_string();
        let Some(span) = e.span() else {
            return ScenarioError {
                path: self.path.to_path_buf(),
                line: 0,
                key: missing_key(&msg, None),
                message: humanize(&msg),
            };
        };
        let line = self.line_of(span.start);
        let section = self.section_at(span.start);
        // An unknown table header: serde calls it a field of the table around it.
        if msg.starts_with("unknown field") && self.line_text(span.start).trim().starts_with('[') {
            let name = msg.split('`').nth(1).unwrap_or("?");
            return ScenarioError {
                path: self.path.to_path_buf(),
                line,
                key: None,
                message: format!(
                    "unknown section `[{name}]`; known sections are {}",
                    SECTIONS.join(", ")
                ),
            };
        }
        let key = if msg.starts_with("unknown field") {
            // serde names the key in backticks: "unknown field `recv_sze`, expected ...".
            msg.split('`').nth(1).map(|k| match &section {
                Some(s) => format!("{s}.{k}"),
                None => k.to_string(),
            })
        } else if msg.starts_with("missing field") {
            missing_key(&msg, section.as_deref())
        } else {
            self.key_at(span.start)
        };
        let mut message = humanize(&msg);
        if let Some(range) = key.as_deref().and_then(limits::int_range)
            && message.contains("no key takes a whole number above")
        {
            let n = message.split(' ').next().unwrap_or("?");
            message = format!(
                "{n} is out of range; it must be between {} and {}",
                range.min, range.max
            );
        }
        ScenarioError {
            path: self.path.to_path_buf(),
            line,
            key,
            message,
        }
    }
}

/// The sections a scenario may have, as `list` and errors name them.
pub(super) const SECTIONS: [&str; 8] = [
    "[sender]",
    "[client]",
    "[run]",
    "[net]",
    "[sysctl]",
    "[[fault]]",
    "[expect]",
    "(and description at the top)",
];

/// The key a "missing field `x`" error is about, inside `section` when the error
/// is about one table. A missing section is named alone: `expect`, not `client.expect`.
pub(super) fn missing_key(msg: &str, section: Option<&str>) -> Option<String> {
    let k = msg.split('`').nth(1)?;
    let is_section = SECTIONS
        .iter()
        .any(|s| s.trim_matches(|c| c == '[' || c == ']') == k);
    Some(match section {
        Some(s) if !is_section => format!("{s}.{k}"),
        _ => k.to_string(),
    })
}

/// serde's words in a user's: "invalid type: string \"5\", expected i64" becomes
/// "expected an integer, got the string \"5\"".
pub(super) fn humanize(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field") {
        return format!(
            "unknown key{}",
            rest.replace("expected one of", "known keys are")
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field") {
        let k = rest.split('`').nth(1).unwrap_or("");
        if SECTIONS
            .iter()
            .any(|s| s.trim_matches(|c| c == '[' || c == ']') == k)
        {
            return format!("missing section `[{k}]`");
        }
        return format!("missing key{rest}");
    }
    // A TOML integer past i64: serde reports it as an i128 it cannot take.
    if let Some(n) = msg
        .strip_prefix("invalid type: integer `")
        .and_then(|r| r.split_once("` as i128"))
        .map(|(n, _)| n)
    {
        return format!(
            "{n} is out of range; no key takes a whole number above {} (each key's own range is in docs/scenario-format.md)",
            i64::MAX
        );
    }
    let Some(rest) = msg.strip_prefix("invalid type: ") else {
        return msg.to_string();
    };
    let Some((got, want)) = rest.rsplit_once(", expected ") else {
        return msg.to_string();
    };
    let want = match want {
        w if w.starts_with('i') || w.starts_with('u') => "an integer",
        "a string" => "a string (durations are written \"10ms\", \"2s\")",
        "a sequence" => "an array of strings",
        w if w.starts_with("struct") || w.starts_with("a map") => "a table",
        w => w,
    };
    let got = got
        .replace('`', "")
        .replacen("string", "the string", 1)
        .replacen("integer", "the integer", 1)
        .replacen("floating point", "the number", 1)
        .replacen("boolean", "the boolean", 1)
        .replacen("sequence", "an array", 1)
        .replacen("map", "a table", 1);
    format!("expected {want}, got {got}")
}
