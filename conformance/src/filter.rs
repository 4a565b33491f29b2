//! `--filter PATTERN`: a substring of the case name, or a glob (`*`, `?`) over the whole
//! name when the pattern has a wildcard.

/// True when `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern.contains(['*', '?']) {
        glob(pattern.as_bytes(), name.as_bytes())
    } else {
        name.contains(pattern)
    }
}

/// Iterative glob match with backtracking to the last `*`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if *c == b'?' || *c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn substrings_and_globs() {
        assert!(matches("memory", "limits.memory.oom"));
        assert!(!matches("memory", "limits.processes"));
        assert!(matches("limits.*", "limits.memory.oom"));
        assert!(!matches("limits.*", "privilege.limits"));
        assert!(matches("*.denied", "privilege.mount.denied"));
        assert!(matches("exit.code?", "exit.code3"));
        assert!(!matches("exit.code?", "exit.code"));
        assert!(matches("*", "anything"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }
}
