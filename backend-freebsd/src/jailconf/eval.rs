//! Evaluation of one jail, after `load_config` and `add_param` in FreeBSD's
//! `usr.sbin/jail/config.c`.
//!
//! 1. The jail starts with `name` (or `jid`, for a numeric name) from its block header;
//!    it cannot be redefined.
//! 2. Wildcard blocks (`*`, `foo.*`, and globals, which live in `*` blocks) and the jail's
//!    own block are applied in file order: a wildcard written before the jail gives
//!    defaults the jail overrides, one written after the jail overrides it.
//! 3. A parameter set again replaces the earlier value, or appends with `+=`. Names
//!    compare with the `no` prefix ignored, so `allow.nomount;` replaces `allow.mount`.
//! 4. Then every `$var` and `${param}` is substituted with the final value of that variable
//!    or parameter in this jail. A reference that is a whole value may expand to a list;
//!    inside other text it must have one value.
//! 5. Variables are dropped; parameters remain in order.

use super::lexer::{Piece, Word};
use super::parser::RawParam;
use super::{Block, Jail, JailConfError, Param, Position, Value};

/// jail(8)'s `wild_jail_name`: a `*` that is a whole dot-separated component.
pub(super) fn is_wildcard(name: &str) -> bool {
    name.split('.').any(|c| c == "*")
}

/// jail(8)'s `wild_jail_match`: a non-final `*` matches one component, a final `*` one or
/// more.
pub(super) fn wild_match(jail: &str, wild: &str) -> bool {
    let mut j = jail;
    let mut w = wild;
    while let (Some(jd), Some(wd)) = (j.find('.'), w.find('.')) {
        if j[..=jd] != w[..=wd] && !w.starts_with("*.") {
            return false;
        }
        j = &j[jd + 1..];
        w = &w[wd + 1..];
    }
    j == w || w == "*"
}

/// jail(8)'s `equalopts`: equal names, or equal but for a `no` prefix on one component.
pub(super) fn equalopts(a: &str, b: &str) -> bool {
    let no_pair =
        |x: &str, y: &str| x.strip_prefix("no") == Some(y) || y.strip_prefix("no") == Some(x);
    if a == b || no_pair(a, b) {
        return true;
    }
    let (mut a, mut b) = (a, b);
    while let Some(dot) = a.find('.') {
        if !b.starts_with(&a[..=dot]) {
            break;
        }
        a = &a[dot + 1..];
        b = &b[dot + 1..];
        if no_pair(a, b) {
            return true;
        }
    }
    false
}

struct Collected {
    name: String,
    is_var: bool,
    immutable: bool,
    values: Vec<Word>,
    at: Position,
}

/// Evaluates the jail of `blocks[index]` (a named, non-wildcard block).
pub(super) fn evaluate(blocks: &[Block], index: usize) -> Result<Jail, JailConfError> {
    let own = &blocks[index];
    if let Some(first) = blocks[..index].iter().find(|b| b.name == own.name) {
        return Err(eval_error(
            own.at.clone(),
            format!(
                "jail {:?} is defined twice (first at {})",
                own.name, first.at
            ),
        ));
    }
    if let Some(again) = blocks[index + 1..].iter().find(|b| b.name == own.name) {
        return Err(eval_error(
            again.at.clone(),
            format!("jail {:?} is defined twice (first at {})", own.name, own.at),
        ));
    }
    let numeric = own.name.parse::<i64>().is_ok_and(|n| n != 0);
    let mut params = vec![Collected {
        name: if numeric { "jid" } else { "name" }.to_string(),
        is_var: false,
        immutable: true,
        values: vec![Word {
            pieces: vec![Piece::Lit(own.name.clone())],
            at: own.at.clone(),
            quoted: true,
        }],
        at: own.at.clone(),
    }];
    let mut did_self = false;
    for (seq, block) in blocks.iter().enumerate() {
        if !is_wildcard(&block.name) {
            continue;
        }
        if index < seq && !did_self {
            add_all(&mut params, &own.params)?;
            did_self = true;
        }
        if wild_match(&own.name, &block.name) {
            add_all(&mut params, &block.params)?;
        }
    }
    if !did_self {
        add_all(&mut params, &own.params)?;
    }

    let mut resolver = Resolver {
        params: &params,
        resolved: vec![None; params.len()],
        visiting: vec![false; params.len()],
    };
    let mut out = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let values = resolver.resolve(i)?;
        if !p.is_var {
            out.push(Param {
                name: p.name.clone(),
                values,
                at: p.at.clone(),
            });
        }
    }
    Ok(Jail {
        name: own.name.clone(),
        at: own.at.clone(),
        params: out,
    })
}

fn add_all(params: &mut Vec<Collected>, new: &[RawParam]) -> Result<(), JailConfError> {
    new.iter().try_for_each(|p| add(params, p))
}

fn add(params: &mut Vec<Collected>, p: &RawParam) -> Result<(), JailConfError> {
    let Some(dp) = params.iter_mut().find(|d| equalopts(&d.name, &p.name)) else {
        params.push(Collected {
            name: p.name.clone(),
            is_var: p.is_var,
            immutable: false,
            values: p.values.clone(),
            at: p.at.clone(),
        });
        return Ok(());
    };
    if dp.is_var != p.is_var {
        let name = if p.is_var { &p.name } else { &dp.name };
        return Err(eval_error(
            p.at.clone(),
            format!("variable \"${name}\" cannot have the same name as a parameter; rename the variable"),
        ));
    }
    if dp.immutable {
        return Err(eval_error(
            p.at.clone(),
            format!(
                "cannot redefine parameter \"{}\": it comes from the jail block's name",
                dp.name
            ),
        ));
    }
    dp.name.clone_from(&p.name);
    if !p.append || p.values.is_empty() {
        dp.values.clear();
    }
    dp.values.extend(p.values.iter().cloned());
    dp.at = p.at.clone();
    Ok(())
}

struct Resolver<'a> {
    params: &'a [Collected],
    resolved: Vec<Option<Vec<Value>>>,
    visiting: Vec<bool>,
}

impl Resolver<'_> {
    fn resolve(&mut self, i: usize) -> Result<Vec<Value>, JailConfError> {
        if let Some(done) = &self.resolved[i] {
            return Ok(done.clone());
        }
        self.visiting[i] = true;
        let p = &self.params[i];
        let mut out = Vec::new();
        for word in &p.values {
            if let [Piece::Var { name, at }] = word.pieces.as_slice() {
                for v in self.lookup(i, name, at)? {
                    out.push(Value {
                        text: v.text,
                        at: word.at.clone(),
                    });
                }
                continue;
            }
            let mut text = String::new();
            for piece in &word.pieces {
                match piece {
                    Piece::Lit(s) => text.push_str(s),
                    Piece::Var { name, at } => {
                        let values = self.lookup(i, name, at)?;
                        if values.len() > 1 {
                            return Err(eval_error(
                                at.clone(),
                                format!(
                                    "{}: ${{{name}}} is a list of {} values and cannot be substituted inside other text",
                                    display_name(p),
                                    values.len()
                                ),
                            ));
                        }
                        text.push_str(&values[0].text);
                    }
                }
            }
            out.push(Value {
                text,
                at: word.at.clone(),
            });
        }
        self.visiting[i] = false;
        self.resolved[i] = Some(out.clone());
        Ok(out)
    }

    fn lookup(
        &mut self,
        from: usize,
        name: &str,
        at: &Position,
    ) -> Result<Vec<Value>, JailConfError> {
        let referrer = display_name(&self.params[from]);
        let Some(j) = self.params.iter().position(|p| p.name == name) else {
            return Err(eval_error(
                at.clone(),
                format!("{referrer}: variable \"{name}\" is not defined for this jail (define it with ${name} = \"...\"; or set the parameter {name})"),
            ));
        };
        if self.visiting[j] {
            return Err(eval_error(
                at.clone(),
                format!("{referrer}: variable loop: \"{name}\" refers back to itself"),
            ));
        }
        let values = self.resolve(j)?;
        if values.is_empty() {
            return Err(eval_error(
                at.clone(),
                format!("{referrer}: variable \"{name}\" has no value to substitute"),
            ));
        }
        Ok(values)
    }
}

fn display_name(p: &Collected) -> String {
    if p.is_var {
        format!("${}", p.name)
    } else {
        p.name.clone()
    }
}

fn eval_error(at: Position, message: String) -> JailConfError {
    JailConfError::Eval { at, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_jail8() {
        assert!(is_wildcard("*"));
        assert!(is_wildcard("foo.*"));
        assert!(is_wildcard("*.bar"));
        assert!(!is_wildcard("foo*"));
        assert!(!is_wildcard("web"));
        assert!(wild_match("web", "*"));
        assert!(wild_match("foo.bar", "*"));
        assert!(wild_match("foo.bar", "foo.*"));
        assert!(wild_match("foo.bar.baz", "foo.*"));
        assert!(!wild_match("foo", "foo.*"));
        assert!(!wild_match("bar.x", "foo.*"));
        assert!(wild_match("a.x", "*.x"));
        assert!(!wild_match("a.y", "*.x"));
    }

    #[test]
    fn equalopts_ignores_the_no_prefix() {
        assert!(equalopts("persist", "nopersist"));
        assert!(equalopts("allow.mount", "allow.nomount"));
        assert!(equalopts("allow.nomount", "allow.mount"));
        assert!(equalopts("mount.devfs", "mount.nodevfs"));
        assert!(!equalopts("allow.mount", "allow.mount.tmpfs"));
        assert!(!equalopts("allow.mount", "mount"));
        assert!(!equalopts("ip4.addr", "ip6.addr"));
    }
}
