//! rctl.conf(5) lines, read for the rules of one jail.
//!
//! A rule is `subject:subject-id:resource:action[=amount[/per]]` (rctl(8)), one per line,
//! `#` to the end of the line a comment. Amounts take the `k m g t p e` suffixes of
//! expand_number(3), binary multiples. The same lines appear in `rctl -a RULE` commands
//! that some setups put in exec hooks; [`parse_rule`] reads those too.

use std::path::Path;
use std::sync::Arc;

use crate::jailconf::Position;

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub subject: String,
    pub id: String,
    pub resource: String,
    pub action: String,
    pub amount: Option<u64>,
    pub per: Option<String>,
    /// The rule as written, for the report.
    pub text: String,
    pub at: Position,
}

/// Every rule of `text`, in order; a line that is not a rule is an error at its place.
pub(super) fn parse(text: &str, file: &Path) -> Result<Vec<Rule>, (Position, String)> {
    let file: Arc<Path> = Arc::from(file);
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        let trimmed = content.trim();
        if trimmed.is_empty() {
            continue;
        }
        let column = content.len() - content.trim_start().len();
        let at = Position {
            file: Arc::clone(&file),
            line: n + 1,
            column: line[..column].chars().count() + 1,
        };
        rules.push(parse_rule(trimmed, at)?);
    }
    Ok(rules)
}

/// One rule's text.
pub(super) fn parse_rule(text: &str, at: Position) -> Result<Rule, (Position, String)> {
    let bad = |why: &str| {
        Err((
            at.clone(),
            format!("{text:?} is not an rctl rule: {why} (expected subject:id:resource:action=amount, e.g. jail:web:memoryuse:deny=512M)"),
        ))
    };
    let parts: Vec<&str> = text.splitn(4, ':').collect();
    let [subject, id, resource, rest] = parts.as_slice() else {
        return bad("it has fewer than four ':'-separated fields");
    };
    if subject.is_empty() || resource.is_empty() || rest.is_empty() {
        return bad("a field is empty");
    }
    let (action, amount) = match rest.split_once('=') {
        Some((a, m)) => (a, Some(m)),
        None => (*rest, None),
    };
    let (amount, per) = match amount {
        None => (None, None),
        Some(m) => {
            let (m, per) = match m.split_once('/') {
                Some((m, p)) => (m, Some(p.to_string())),
                None => (m, None),
            };
            match parse_amount(m) {
                Some(n) => (Some(n), per),
                None => {
                    return bad(&format!(
                        "the amount {m:?} is not a number with an optional k/m/g/t suffix"
                    ))
                }
            }
        }
    };
    Ok(Rule {
        subject: subject.to_string(),
        id: id.to_string(),
        resource: resource.to_string(),
        action: action.to_string(),
        amount,
        per,
        text: text.to_string(),
        at,
    })
}

/// expand_number(3): digits with an optional binary suffix.
fn parse_amount(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        "p" | "pb" => 50,
        "e" | "eb" => 60,
        _ => return None,
    };
    n.checked_mul(1u64.checked_shl(shift)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_and_skips_comments() {
        let text = "# limits\njail:web:memoryuse:deny=512M\n  jail:web:pcpu:deny=150 # cpu\n\njail:db:maxproc:deny=100/jail\nuser:1001:openfiles:log\n";
        let rules = parse(text, Path::new("/etc/rctl.conf")).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].amount, Some(512 << 20));
        assert_eq!(rules[0].at.to_string(), "/etc/rctl.conf:2:1");
        assert_eq!(rules[1].at.to_string(), "/etc/rctl.conf:3:3");
        assert_eq!(rules[1].resource, "pcpu");
        assert_eq!(rules[2].per.as_deref(), Some("jail"));
        assert_eq!(rules[3].amount, None);
        assert_eq!(rules[3].action, "log");
    }

    #[test]
    fn malformed_lines_are_errors_at_their_place() {
        let (at, msg) = parse(
            "jail:web:memoryuse:deny=512M\n jail:web\n",
            Path::new("/etc/rctl.conf"),
        )
        .unwrap_err();
        assert_eq!(at.to_string(), "/etc/rctl.conf:2:2");
        assert!(msg.contains("fewer than four"), "{msg}");
        let (_, msg) = parse("jail:web:memoryuse:deny=lots\n", Path::new("r")).unwrap_err();
        assert!(msg.contains("\"lots\""), "{msg}");
    }

    #[test]
    fn amounts_take_binary_suffixes() {
        assert_eq!(parse_amount("1024"), Some(1024));
        assert_eq!(parse_amount("4k"), Some(4096));
        assert_eq!(parse_amount("2G"), Some(2 << 30));
        assert_eq!(parse_amount("1.5G"), None);
        assert_eq!(parse_amount("x"), None);
    }
}
