//! fstab(5) lines, as jail(8) takes them in `mount` values and `mount.fstab` files:
//! `device mountpoint fstype options [dump [pass]]`, whitespace-separated, `#` to the end
//! of the line a comment, `\040`-style octal escapes for spaces in paths.

use std::path::Path;
use std::sync::Arc;

use crate::jailconf::Position;

/// One fstab entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub options: Vec<String>,
    /// The line as written.
    pub text: String,
    pub at: Position,
}

impl Entry {
    /// True when the options make it read-only.
    pub fn readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro" || o == "rdonly")
    }

    /// The value of `name=value` in the options.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().find_map(|o| {
            o.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v)
        })
    }
}

/// Parses one line; `Ok(None)` for a blank or comment line.
pub(super) fn parse_line(line: &str, at: Position) -> Result<Option<Entry>, (Position, String)> {
    let content = line.split('#').next().unwrap_or("");
    let fields: Vec<String> = content.split_whitespace().map(unescape).collect();
    if fields.is_empty() {
        return Ok(None);
    }
    if fields.len() < 3 {
        return Err((
            at,
            format!(
                "{:?} is not an fstab(5) line: it needs at least device, mount point and file system type",
                line.trim()
            ),
        ));
    }
    let options = fields
        .get(3)
        .map(|o| o.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| vec!["rw".to_string()]);
    Ok(Some(Entry {
        device: fields[0].clone(),
        mountpoint: fields[1].clone(),
        fstype: fields[2].clone(),
        options,
        text: content.split_whitespace().collect::<Vec<_>>().join(" "),
        at,
    }))
}

/// Every entry of an fstab file.
pub(super) fn parse_file(text: &str, file: &Path) -> Result<Vec<Entry>, (Position, String)> {
    let file: Arc<Path> = Arc::from(file);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let at = Position {
            file: Arc::clone(&file),
            line: n + 1,
            column: line[..indent].chars().count() + 1,
        };
        if let Some(e) = parse_line(line, at)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Decodes `\NNN` octal escapes (getfsent(3) writes spaces as `\040`).
fn unescape(field: &str) -> String {
    let chars: Vec<char> = field.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\'
            && i + 3 < chars.len()
            && chars[i + 1..=i + 3].iter().all(|c| ('0'..='7').contains(c))
        {
            let n = chars[i + 1..=i + 3]
                .iter()
                .fold(0u32, |n, c| n * 8 + (*c as u32 - '0' as u32));
            out.push(char::from((n & 0xff) as u8));
            i += 4;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Position {
        Position {
            file: Arc::from(Path::new("/etc/fstab.web")),
            line: 1,
            column: 1,
        }
    }

    #[test]
    fn reads_the_fields() {
        let e = parse_line(
            "/data  /jails/web/data\\040x nullfs ro,noatime 0 0 # data",
            at(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.device, "/data");
        assert_eq!(e.mountpoint, "/jails/web/data x");
        assert_eq!(e.fstype, "nullfs");
        assert!(e.readonly());
        assert_eq!(e.text, "/data /jails/web/data\\040x nullfs ro,noatime 0 0");
        let t = parse_line("tmpfs /j/tmp tmpfs rw,size=64m,mode=1777", at())
            .unwrap()
            .unwrap();
        assert_eq!(t.option("size"), Some("64m"));
        assert!(!t.readonly());
        assert!(parse_line("  # only a comment", at()).unwrap().is_none());
    }

    #[test]
    fn short_lines_are_errors() {
        let (_, msg) = parse_line("/data /jails/web/data", at()).unwrap_err();
        assert!(msg.contains("at least device"), "{msg}");
    }

    #[test]
    fn file_positions_count_lines() {
        let entries =
            parse_file("# bastille\n\n  /a /j/a nullfs ro 0 0\n", Path::new("/f")).unwrap();
        assert_eq!(entries[0].at.to_string(), "/f:3:3");
    }
}
