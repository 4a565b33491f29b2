//! Typed, span-aware reading of a parsed TOML document.
//!
//! The `toml` crate's spanned tree (`DeTable`) keeps the byte range of every key and value.
//! [`Reader`] walks it with the schema in hand and turns each mismatch into a
//! [`Diagnostic`] at the exact line and column, collecting all of them rather than
//! stopping at the first.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::Diagnostic;

/// A spanned TOML value.
pub type Value<'i> = Spanned<DeValue<'i>>;

/// Collects diagnostics against one source text.
pub struct Reader<'s> {
    src: &'s str,
    file: String,
    diagnostics: Vec<Diagnostic>,
    /// Keys offered as "did you mean": their absence is already explained.
    suggested: Vec<String>,
}

impl<'s> Reader<'s> {
    pub fn new(src: &'s str, file: String) -> Self {
        Reader {
            src,
            file,
            diagnostics: Vec::new(),
            suggested: Vec::new(),
        }
    }

    pub fn into_diagnostics(mut self) -> Vec<Diagnostic> {
        self.diagnostics
            .sort_by_key(|d| (d.line, d.column, d.key.clone()));
        self.diagnostics
    }

    pub fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }

    /// Records a problem at `span`.
    pub fn error(
        &mut self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = line_column(self.src, span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint,
        });
    }

    /// Records that a required key is missing, unless a misspelling of it was reported.
    pub fn missing(&mut self, span: Range<usize>, key: &str, message: &str, hint: Option<String>) {
        if !self.suggested.iter().any(|k| k == key) {
            self.error(span, key, message, hint);
        }
    }

    /// Reports every key of `table` not in `known`, with a "did you mean" when one is close.
    /// `elsewhere` lists keys that belong to another table, as (key, full path).
    pub fn reject_unknown(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        known: &[&str],
        elsewhere: &[(&str, &str)],
    ) {
        for (key, _) in table.iter() {
            let name = key.get_ref().as_ref();
            if known.contains(&name) {
                continue;
            }
            let full = join(path, name);
            let hint = match closest(name, known) {
                Some(k) => {
                    self.suggested.push(join(path, k));
                    Some(format!("did you mean `{}`?", join(path, k)))
                }
                None => elsewhere
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, full)| format!("did you mean `{full}`? it belongs in its table"))
                    .or_else(|| Some(format!("known keys here: {}", known.join(", ")))),
            };
            self.error(key.span(), &full, "unknown key", hint);
        }
    }

    /// Reports a value of the wrong type.
    pub fn wrong_type(
        &mut self,
        value: &Value<'_>,
        key: &str,
        expected: &str,
        hint: Option<String>,
    ) {
        let found = type_name(value.get_ref());
        self.error(
            value.span(),
            key,
            format!("expected {expected}, found {found}"),
            hint,
        );
    }

    /// A string, or a type error.
    pub fn string<'v>(&mut self, value: &'v Value<'_>, key: &str) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(value, key, "a string", None);
                None
            }
        }
    }

    /// A boolean, or a type error.
    pub fn boolean(&mut self, value: &Value<'_>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(value, key, "true or false", None);
                None
            }
        }
    }

    /// A non-negative integer, or an error.
    pub fn unsigned(&mut self, value: &Value<'_>, key: &str) -> Option<u64> {
        match value.get_ref() {
            DeValue::Integer(i) => {
                match u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.error(
                            value.span(),
                            key,
                            format!("{i} is out of range"),
                            Some("use a whole number from 0 up".into()),
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(value, key, "a whole number", None);
                None
            }
        }
    }

    /// A number (integer or float), or an error.
    pub fn number(&mut self, value: &Value<'_>, key: &str) -> Option<f64> {
        match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => {
                self.wrong_type(value, key, "a number", None);
                None
            }
        }
    }

    /// A table, or a type error.
    pub fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        key: &str,
        hint: Option<String>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(value, key, "a table", hint);
                None
            }
        }
    }

    /// An array, or a type error.
    pub fn array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        key: &str,
        hint: Option<String>,
    ) -> Option<&'v [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(a) => Some(&a[..]),
            _ => {
                self.wrong_type(value, key, "an array", hint);
                None
            }
        }
    }
}

/// `parent.key`, or `key` at the top.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The known word closest to `word`, if close enough to be a likely typo.
pub fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, src.find('=').unwrap()), (1, 3));
        assert_eq!(line_column(src, src.rfind('=').unwrap()), (2, 4));
    }

    #[test]
    fn closest_finds_typos_only() {
        let known = ["hostname", "name", "root", "limits"];
        assert_eq!(closest("hostnme", &known), Some("hostname"));
        assert_eq!(closest("limit", &known), Some("limits"));
        assert_eq!(closest("rot", &known), Some("root"));
        assert_eq!(closest("banana", &known), None);
    }
}
