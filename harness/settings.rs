//! Reading the keys of one table of a scenario, checked, for whoever owns them.
//!
//! A sender owns its `[sender]` keys: their names, defaults, ranges and help. It reads
//! them through [`Keys`], which gives every error the file, the line and the key, and
//! refuses any key nobody read, listing the ones the sender knows. The same reader
//! checks `zerowin serve --sender NAME --set KEY=VALUE`, so a value a file refuses is
//! refused on the command line too. This module knows no sender; senders and the
//! scenario loader depend on it, never the other way round.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::limits::{Dur, Int, parse_duration};

/// A scenario error: file, line, key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: PathBuf,
    /// 1-based; 0 when the error is about the whole file.
    pub line: usize,
    /// The key as `section.key`, when the error is about one key.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(k) = &self.key {
            write!(f, ": {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Where keys come from, to name them in errors: a file's text, or a flag.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    /// The file's text, for line numbers; empty for a flag.
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line_of(&self, offset: usize) -> usize {
        if self.text.is_empty() {
            return 0;
        }
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    pub fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            path: self.path.to_path_buf(),
            line: self.line_of(span.start),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

/// A flag's VALUE as TOML (`5`, `true`, `["1s unlimited"]`), or else as a string
/// (`2s`, `naive`): `serve --set`, `run --set` and `run --sweep` read values alike.
pub fn flag_value(v: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {}", v.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.trim().to_string()))
}

/// The keys of one table, read and checked one by one by their owner.
pub struct Keys<'a> {
    src: Source<'a>,
    section: &'static str,
    entries: BTreeMap<String, Spanned<toml::Value>>,
    /// Where every key was, read or not, for errors found after reading.
    spans: BTreeMap<String, Range<usize>>,
    /// The scenario file's directory, `{dir}` in the commands a kind runs.
    dir: PathBuf,
}

impl<'a> Keys<'a> {
    pub fn new(
        src: Source<'a>,
        section: &'static str,
        entries: BTreeMap<String, Spanned<toml::Value>>,
    ) -> Keys<'a> {
        let spans = entries.iter().map(|(k, v)| (k.clone(), v.span())).collect();
        Keys {
            src,
            section,
            entries,
            spans,
            dir: PathBuf::from("."),
        }
    }

    /// The same keys, read for a scenario in `dir` (its `{dir}`).
    pub fn in_dir(mut self, dir: &Path) -> Keys<'a> {
        self.dir = dir.to_path_buf();
        self
    }

    /// The scenario file's directory (`.` for flags).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The raw value of `key`, for an owner that reads a table or a choice of types
    /// itself; errors about it go through [`Keys::invalid`].
    pub fn value(&mut self, key: &str) -> Option<toml::Value> {
        self.take(key).map(|v| v.into_inner())
    }

    /// `KEY=VALUE` pairs from a flag, each VALUE read as TOML (`5`, `"2s"`) or, if it
    /// is not TOML, as a string (`2s`).
    pub fn from_pairs(
        flag: &'a Path,
        section: &'static str,
        pairs: &[String],
    ) -> Result<Keys<'a>, ScenarioError> {
        let mut entries = BTreeMap::new();
        for p in pairs {
            let (k, v) = p.split_once('=').ok_or_else(|| ScenarioError {
                path: flag.to_path_buf(),
                line: 0,
                key: None,
                message: format!("`{p}` is not KEY=VALUE"),
            })?;
            entries.insert(k.trim().to_string(), Spanned::new(0..0, flag_value(v)));
        }
        Ok(Keys::new(
            Source {
                path: flag,
                text: "",
            },
            section,
            entries,
        ))
    }

    fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.section)
    }

    fn err(&self, v: &Spanned<toml::Value>, key: &str, m: impl Into<String>) -> ScenarioError {
        self.src.err(v.span(), &self.name(key), m)
    }

    /// Whether `key` is there and holds an integer (for a key that takes a count or a
    /// duration).
    pub fn is_int(&self, key: &str) -> bool {
        self.entries
            .get(key)
            .is_some_and(|v| matches!(v.get_ref(), toml::Value::Integer(_)))
    }

    /// Whether the table has `key` (not yet read).
    pub fn has(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    fn take(&mut self, key: &str) -> Option<Spanned<toml::Value>> {
        self.entries.remove(key)
    }

    /// An integer in `range`, if the key is there.
    pub fn int(&mut self, key: &str, range: Int) -> Result<Option<i64>, ScenarioError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match v.get_ref() {
            toml::Value::Integer(n) => range.check(*n).map(Some).map_err(|m| self.err(&v, key, m)),
            other => Err(self.err(&v, key, expected("an integer", other))),
        }
    }

    /// A boolean, if the key is there.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, ScenarioError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match v.get_ref() {
            toml::Value::Boolean(b) => Ok(Some(*b)),
            other => Err(self.err(&v, key, expected("true or false", other))),
        }
    }

    /// A string, if the key is there.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, ScenarioError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match v.get_ref() {
            toml::Value::String(s) => Ok(Some(s.clone())),
            other => Err(self.err(&v, key, expected("a string", other))),
        }
    }

    /// An array of strings, if the key is there.
    pub fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, ScenarioError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        let bad = |k: &Self| k.err(&v, key, expected("an array of strings", v.get_ref()));
        let toml::Value::Array(items) = v.get_ref() else {
            return Err(bad(self));
        };
        items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .map(Some)
            .ok_or_else(|| bad(self))
    }

    /// The error for `key`'s value, for checks only its owner can make (or for a
    /// missing key: then the table's first line).
    pub fn invalid(&self, key: &str, m: impl Into<String>) -> ScenarioError {
        let span = self
            .spans
            .get(key)
            .or_else(|| self.spans.values().min_by_key(|s| s.start))
            .cloned()
            .unwrap_or(0..0);
        self.src.err(span, &self.name(key), m)
    }

    /// A duration in `range`, written with its unit, if the key is there.
    pub fn duration(&mut self, key: &str, range: Dur) -> Result<Option<Duration>, ScenarioError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match v.get_ref() {
            toml::Value::String(s) => parse_duration(s)
                .and_then(|d| range.check(d, s))
                .map(Some)
                .map_err(|m| self.err(&v, key, m)),
            other => Err(self.err(
                &v,
                key,
                expected("a string (durations are written \"10ms\", \"2s\")", other),
            )),
        }
    }

    /// A string parsed by `T`'s own rules (a choice among names), if the key is there.
    pub fn parse<T: FromStr<Err = String>>(
        &mut self,
        key: &str,
    ) -> Result<Option<T>, ScenarioError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match v.get_ref() {
            toml::Value::String(s) => s.parse().map(Some).map_err(|m| self.err(&v, key, m)),
            other => Err(self.err(&v, key, expected("a string", other))),
        }
    }

    /// The keys nobody read are errors: `known` are the owner's.
    pub fn finish(self, owner: &str, known: &[&str]) -> Result<(), ScenarioError> {
        match self.entries.iter().next() {
            None => Ok(()),
            Some((k, v)) => Err(self.err(
                v,
                k,
                format!(
                    "unknown key for {owner}; its keys are {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
        }
    }
}

/// "expected an integer, got the string \"5\"".
fn expected(want: &str, got: &toml::Value) -> String {
    let got = match got {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(n) => format!("the integer {n}"),
        toml::Value::Float(x) => format!("the number {x}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    };
    format!("expected {want}, got {got}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    #[test]
    fn flag_pairs_are_checked_like_file_keys() {
        let flag = Path::new("--set");
        let pairs = [
            "queue_bytes=4096".to_string(),
            "stall_timeout=2s".to_string(),
        ];
        let mut k = Keys::from_pairs(flag, "sender", &pairs).unwrap();
        assert_eq!(k.int("queue_bytes", limits::BUF).unwrap(), Some(4096));
        assert_eq!(
            k.duration("stall_timeout", limits::DURATION).unwrap(),
            Some(Duration::from_secs(2))
        );
        k.finish("patient", &[]).unwrap();
        let mut k = Keys::from_pairs(flag, "sender", &["queue_bytes=\"x\"".to_string()]).unwrap();
        let e = k.int("queue_bytes", limits::BUF).unwrap_err().to_string();
        assert_eq!(
            e,
            "--set: sender.queue_bytes: expected an integer, got the string \"x\""
        );
        let k = Keys::from_pairs(flag, "sender", &["qeue=1".to_string()]).unwrap();
        let e = k
            .finish("patient", &["queue_bytes"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sender.qeue: unknown key for patient; its keys are queue_bytes"),
            "{e}"
        );
        assert!(Keys::from_pairs(flag, "sender", &["nonsense".to_string()]).is_err());
    }
}

/// Settings that belong to one kind (a strategy, a sender): of a type its module
/// defines, carried through the shared structs without them knowing it.
pub trait OwnSettings: Any + std::fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn same(&self, other: &dyn OwnSettings) -> bool;
}

impl<T: Any + std::fmt::Debug + Send + Sync + PartialEq> OwnSettings for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn same(&self, other: &dyn OwnSettings) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// One kind's settings, of a type that kind's module defines.
#[derive(Debug, Clone, Default)]
pub struct Own(Option<Arc<dyn OwnSettings>>);

impl Own {
    pub fn new(v: impl OwnSettings) -> Own {
        Own(Some(Arc::new(v)))
    }

    /// The settings, if they are a `T`.
    pub fn get<T: OwnSettings>(&self) -> Option<&T> {
        self.0.as_deref()?.as_any().downcast_ref::<T>()
    }
}

impl PartialEq for Own {
    fn eq(&self, other: &Own) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => a.same(b.as_ref()),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}
