//! The file-name patterns of `.include`, as glob(3) reads them: `*`, `?`, `[...]` (with
//! `!` negation and ranges) and `\` escapes, per path component; a leading `.` is matched
//! only by a literal `.`; matches are returned sorted. jail(8) uses a pattern that
//! matches nothing (`/usr/local/etc/jail[.]conf`) to include a file only if it exists, so
//! no match is not an error here: the caller decides.

use std::io;
use std::path::{Path, PathBuf};

/// True when `s` has a glob metacharacter, i.e. is a pattern rather than a plain name.
pub(super) fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every existing path matching `pattern`, sorted. `pattern` is absolute or relative to the
/// current folder; `root` is prefixed to absolute patterns when reading the disk (tests
/// use a fixture folder as `/`); the returned paths are the logical ones, without `root`.
pub(super) fn expand(pattern: &Path, root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &current {
            if is_pattern(&part) && matches!(comp, std::path::Component::Normal(_)) {
                let dir = physical(base, root);
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                };
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotADirectory => continue,
                    Err(e) => return Err(e),
                };
                let mut names = Vec::new();
                for entry in entries {
                    let name = entry?.file_name().to_string_lossy().into_owned();
                    if matches(&part, &name) {
                        names.push(name);
                    }
                }
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(comp.as_os_str()));
            }
        }
        current = next;
    }
    current.retain(|p| physical(p, root).exists());
    current.sort();
    Ok(current)
}

/// Where a logical path lives on disk: absolute paths under `root`.
pub(super) fn physical(logical: &Path, root: &Path) -> PathBuf {
    match logical.strip_prefix("/") {
        Ok(rest) => root.join(rest),
        Err(_) => logical.to_path_buf(),
    }
}

/// Whether a file name matches one component of a pattern.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if n.first() == Some(&'.') && p.first() != Some(&'.') {
        return false;
    }
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|k| match_from(&p[1..], &n[k..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => match (n.first(), class(&p[1..])) {
            (Some(&c), Some((set, len))) => set.contains(c) && match_from(&p[1 + len..], &n[1..]),
            // An unclosed '[' is a literal bracket.
            (Some('['), None) => match_from(&p[1..], &n[1..]),
            _ => false,
        },
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && match_from(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && match_from(&p[1..], &n[1..]),
    }
}

struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != self.negated
    }
}

/// Parses a bracket expression after its '['; the class and how many chars it used
/// (including the ']').
fn class(p: &[char]) -> Option<(Class, usize)> {
    let mut i = 0;
    let negated = matches!(p.first(), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            return Some((Class { negated, ranges }, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            ranges.push((c, p[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_match_like_glob3() {
        assert!(matches("*.conf", "web.conf"));
        assert!(!matches("*.conf", "web.conf.bak"));
        assert!(!matches("*.conf", ".hidden.conf"));
        assert!(matches(".*.conf", ".hidden.conf"));
        assert!(matches("jail[.]conf", "jail.conf"));
        assert!(!matches("jail[.]conf", "jailxconf"));
        assert!(matches("w?b", "web"));
        assert!(matches("[a-c]*", "bob"));
        assert!(!matches("[!a-c]*", "bob"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("[]]x", "]x"));
    }

    #[test]
    fn expands_sorted_and_skips_missing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/jail.conf.d");
        std::fs::create_dir_all(&d).unwrap();
        for f in ["b.conf", "a.conf", "c.txt"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let got = expand(Path::new("/etc/jail.conf.d/*.conf"), dir.path()).unwrap();
        assert_eq!(
            got,
            vec![
                PathBuf::from("/etc/jail.conf.d/a.conf"),
                PathBuf::from("/etc/jail.conf.d/b.conf")
            ]
        );
        assert!(expand(Path::new("/usr/local/etc/jail[.]conf"), dir.path())
            .unwrap()
            .is_empty());
        assert!(expand(Path::new("/nowhere/*/x.conf"), dir.path())
            .unwrap()
            .is_empty());
    }
}
