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

/// The bytes a `request` or `reply` stands for: `\r`, `\n`, `\t`, `\0`, `\xHH`
/// and `\\` are read as escapes (TOML reads its own in "..." strings first; in
/// '...' strings they reach here whole), every other character as its UTF-8.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        out.push(match chars.next() {
            Some('r') => b'\r',
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("`\\x{hex}` is not \\x and two hex digits"))?
            }
            Some(other) => {
                return Err(format!(
                    "`\\{other}` is not an escape zerowin knows (\\r \\n \\t \\0 \\xHH \\\\)"
                ));
            }
            None => return Err("ends with a lone backslash; write \\\\ for one".into()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_bytes() {
        assert_eq!(
            unescape(r"GET / HTTP/1.1\r\n\x00\\é").unwrap(),
            b"GET / HTTP/1.1\r\n\x00\\\xc3\xa9"
        );
        assert!(unescape(r"\q").unwrap_err().contains("\\q"));
        assert!(unescape(r"\x4").is_err());
        assert!(unescape(r"\xzz").is_err());
        assert!(unescape("a\\").unwrap_err().contains("lone backslash"));
    }

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
