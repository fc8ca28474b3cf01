//! The words every explanation shares: a user's string made safe to show (control
//! characters escaped, bidirectional controls included, so a hostile scenario string,
//! reply or program output cannot drive the terminal or reorder what a report says),
//! and times in milliseconds.

use std::borrow::Cow;

/// The bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069): not control characters to Rust, but they reorder what a terminal
/// shows after them, so a description could make a FAIL read as a PASS.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Escapes every control character (bidirectional controls included), newlines too
/// unless `keep_newlines`.
pub fn escape_controls(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| (c.is_control() || is_bidi_control(c)) && !(keep_newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A user's string (a description, a reply, a command, a program's output) for
/// showing inline: every control character escaped, newlines included.
pub fn clean(s: &str) -> String {
    escape_controls(s, false).into_owned()
}

/// "2.54 ms", "-0.18 ms": signed, so an event before time zero reads as one.
pub fn ms(us: i64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// [`ms`] of an unsigned count.
pub fn ms_u(us: u64) -> String {
    ms(us as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("red \u{1b}[31mX\u{7}"), "red \\u{1b}[31mX\\u{7}");
        assert_eq!(clean("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape_controls("a\nb\u{1b}", true), "a\nb\\u{1b}");
        assert_eq!(clean("PASS\u{202E}LIAF"), "PASS\\u{202e}LIAF");
        assert_eq!(clean("x\u{2066}y\u{2069}"), "x\\u{2066}y\\u{2069}");
        assert!(matches!(
            escape_controls("plain ✓ é", true),
            Cow::Borrowed(_)
        ));
    }
}
