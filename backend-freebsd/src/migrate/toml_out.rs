//! Writing spec TOML by hand, so that notes can sit as comments next to the keys they
//! concern (a TOML serializer would drop them).

use std::fmt::Write as _;

/// A TOML basic string.
pub(super) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of strings, on one line.
pub(super) fn strings(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Text made safe for one comment line: newlines shown as `\n`.
pub(super) fn comment_text(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

/// Appends `# text` lines, wrapping nothing: one line per call.
pub(super) fn comment(out: &mut String, text: &str) {
    let _ = writeln!(out, "# {}", comment_text(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_toml_needs() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(
            strings(&["/bin/sh".into(), "-c".into()]),
            "[\"/bin/sh\", \"-c\"]"
        );
    }
}
