//! jail.conf(5): the configuration file of jail(8), read the way jail(8) reads it.
//!
//! stockade imports existing jails from it (see [`crate::migrate`]). The reader follows
//! FreeBSD's own lexer, grammar and evaluation (`usr.sbin/jail/jaillex.l`, `jailparse.y`,
//! `config.c`) so that a file means here what it means to jail(8):
//!
//! - global parameters, named blocks `web { ... }`, wildcard blocks `*` and `foo.*`;
//! - `$var = value;` variables and `$name` / `${host.hostname}` substitution of variables
//!   and parameters (not inside single quotes), resolved per jail after every wildcard
//!   and global parameter is applied, so later definitions win;
//! - `=`, `+=` (append) and comma-separated lists; valueless booleans (`persist;`) and
//!   the `no` prefix (`allow.nomount;` is `allow.mount = false`);
//! - double- and single-quoted strings with C escapes, unquoted tokens, backslash line
//!   continuation, `#`, `//` and `/* */` comments;
//! - `.include "glob";` (relative to the including file's folder, matches sorted, a
//!   pattern matching nothing is not an error, includes nested at most
//!   [`Options::max_include_depth`] deep).
//!
//! [`Document::parse`] reads the text and its includes; [`Document::jails`] evaluates
//! each jail into its ordered parameters, every value keeping the [`Position`] it came
//! from. Errors read `FILE:LINE:COL: what is wrong`.

mod eval;
mod glob;
mod lexer;
mod parser;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Serialize, Serializer};

use parser::{Item, RawParam};

/// Where something is in a file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The file, as named by the user or by the `.include` that brought it in.
    pub file: Arc<Path>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One value of a parameter, after substitution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Value {
    /// The text.
    pub text: String,
    /// Where the value was written (for a substituted list, the `$var` that produced it).
    pub at: Position,
}

/// A parameter of an evaluated jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Param {
    /// The name as last spelled (`allow.nomount` if that spelling won).
    pub name: String,
    /// The values; empty for a valueless boolean such as `persist;`.
    pub values: Vec<Value>,
    /// The statement that last set (or appended to) it.
    pub at: Position,
}

impl Param {
    /// The name without a `no` prefix on its last component: `allow.nomount` →
    /// `allow.mount`, `mount.nodevfs` → `mount.devfs`.
    pub fn base_name(&self) -> String {
        base_name(&self.name)
    }

    /// True when the name carries the `no` prefix.
    pub fn is_negated(&self) -> bool {
        self.base_name() != self.name
    }

    /// The value as jail(8) reads a boolean: `true`/`false` (any case) or an integer
    /// (non-zero is true), valueless means true, and a `no` prefix inverts it. `None` when
    /// the last value is none of those.
    pub fn bool(&self) -> Option<bool> {
        let value = match self.values.last() {
            None => true,
            Some(v) => {
                let t = v.text.trim();
                if t.eq_ignore_ascii_case("true") {
                    true
                } else if t.eq_ignore_ascii_case("false") {
                    false
                } else {
                    t.parse::<i64>().ok()? != 0
                }
            }
        };
        Some(value != self.is_negated())
    }

    /// The last value: what jail(8) passes for a scalar parameter.
    pub fn last(&self) -> Option<&Value> {
        self.values.last()
    }

    /// The statement as jail.conf spells it: `name;` or `name = "a", "b";`.
    pub fn to_conf(&self) -> String {
        if self.values.is_empty() {
            return format!("{};", self.name);
        }
        let values: Vec<String> = self.values.iter().map(|v| quote(&v.text)).collect();
        format!("{} = {};", self.name, values.join(", "))
    }
}

/// A jail with its parameters evaluated: wildcards and globals applied, variables
/// substituted and removed, in jail(8)'s order (`name` first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jail {
    /// The name from the block header.
    pub name: String,
    /// Where the block starts.
    pub at: Position,
    /// The parameters, in the order jail(8) would apply them.
    pub params: Vec<Param>,
}

impl Jail {
    /// The parameter named `name`, with or without the `no` prefix (`allow.mount` finds
    /// `allow.nomount`).
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| eval::equalopts(&p.name, name))
    }
}

/// How to read a file and its includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Prefixed to absolute paths when reading includes (`/` on a real host; a fixture
    /// folder in tests). Positions and results show paths without it.
    pub root: PathBuf,
    /// How deep `.include`s may nest before it is taken for a loop.
    pub max_include_depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            root: PathBuf::from("/"),
            max_include_depth: 16,
        }
    }
}

/// Why a jail.conf could not be read. Displays as `FILE:LINE:COL: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum JailConfError {
    /// The text is not valid jail.conf(5).
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Position,
        /// What is wrong.
        message: String,
    },
    /// An included file could not be read.
    #[error("{at}: cannot read included file {}: {source}", path.display())]
    Include {
        /// The `.include` statement.
        at: Position,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Includes nest too deep, or a file includes itself.
    #[error("{at}: {message}")]
    IncludeLoop {
        /// The `.include` statement.
        at: Position,
        /// What loops.
        message: String,
    },
    /// A jail's parameters cannot be evaluated (unknown variable, a loop, ...).
    #[error("{at}: {message}")]
    Eval {
        /// Where.
        at: Position,
        /// What is wrong.
        message: String,
    },
    /// `--jail NAME` names no jail in the file.
    #[error("{}: no jail named {name:?} (the file defines: {})", file.display(), list(defined))]
    NoSuchJail {
        /// The top file.
        file: PathBuf,
        /// The requested name.
        name: String,
        /// The jails the file defines.
        defined: Vec<String>,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no jail".to_string()
    } else {
        names.join(", ")
    }
}

impl JailConfError {
    /// Where the problem is, when it has a place.
    pub fn position(&self) -> Option<&Position> {
        match self {
            JailConfError::Syntax { at, .. }
            | JailConfError::Include { at, .. }
            | JailConfError::IncludeLoop { at, .. }
            | JailConfError::Eval { at, .. } => Some(at),
            JailConfError::NoSuchJail { .. } => None,
        }
    }
}

/// A block as written: a named jail or a wildcard, with its parameters unevaluated.
#[derive(Debug, Clone)]
struct Block {
    name: String,
    at: Position,
    params: Vec<RawParam>,
}

/// A parsed jail.conf with its includes: the blocks in file order, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Document {
    origin: PathBuf,
    blocks: Vec<Block>,
    files: Vec<PathBuf>,
}

impl Document {
    /// Parses `text`, read from `origin` (named in positions; its folder is the base of
    /// relative includes), reading includes from this host.
    pub fn parse(text: &str, origin: &Path) -> Result<Document, JailConfError> {
        Document::parse_with(text, origin, &Options::default())
    }

    /// [`Document::parse`] with explicit [`Options`].
    pub fn parse_with(
        text: &str,
        origin: &Path,
        options: &Options,
    ) -> Result<Document, JailConfError> {
        let mut doc = Document {
            origin: origin.to_path_buf(),
            blocks: Vec::new(),
            files: Vec::new(),
        };
        let mut stack = Vec::new();
        doc.load(text, origin, options, &mut stack)?;
        Ok(doc)
    }

    /// Every file read, the top one first, then includes in the order read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The names of the (non-wildcard) jails, in file order.
    pub fn jail_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for b in &self.blocks {
            if !eval::is_wildcard(&b.name) && !names.contains(&b.name) {
                names.push(b.name.clone());
            }
        }
        names
    }

    /// Evaluates every jail, in file order.
    pub fn jails(&self) -> Result<Vec<Jail>, JailConfError> {
        self.jail_names().iter().map(|n| self.jail(n)).collect()
    }

    /// Evaluates one jail.
    pub fn jail(&self, name: &str) -> Result<Jail, JailConfError> {
        let Some(index) = self
            .blocks
            .iter()
            .position(|b| b.name == name && !eval::is_wildcard(&b.name))
        else {
            return Err(JailConfError::NoSuchJail {
                file: self.origin.clone(),
                name: name.to_string(),
                defined: self.jail_names(),
            });
        };
        eval::evaluate(&self.blocks, index)
    }

    fn load(
        &mut self,
        text: &str,
        path: &Path,
        options: &Options,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), JailConfError> {
        let file: Arc<Path> = Arc::from(path);
        self.files.push(path.to_path_buf());
        let toks = lexer::tokenize(text, &file).map_err(|e| JailConfError::Syntax {
            at: e.at,
            message: e.message,
        })?;
        let items = parser::parse(toks).map_err(|e| JailConfError::Syntax {
            at: e.at,
            message: e.message,
        })?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        stack.push(glob::physical(path, &options.root));
        for item in items {
            match item {
                Item::Global(p) => match self.blocks.last_mut() {
                    // Consecutive globals share the last wildcard block, as in jail(8).
                    Some(b) if b.name == "*" => b.params.push(p),
                    _ => self.blocks.push(Block {
                        name: "*".into(),
                        at: p.at.clone(),
                        params: vec![p],
                    }),
                },
                Item::Block { name, params, at } => self.blocks.push(Block { name, at, params }),
                Item::Include { pattern, at } => {
                    self.include(&pattern, &at, &folder, options, stack)?
                }
            }
        }
        stack.pop();
        Ok(())
    }

    fn include(
        &mut self,
        pattern: &str,
        at: &Position,
        folder: &Path,
        options: &Options,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), JailConfError> {
        let pattern_path = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            folder.join(pattern)
        };
        let paths = if glob::is_pattern(pattern) {
            glob::expand(&pattern_path, &options.root).map_err(|source| JailConfError::Include {
                at: at.clone(),
                path: pattern_path.clone(),
                source,
            })?
        } else {
            vec![pattern_path]
        };
        for path in paths {
            if stack.len() > options.max_include_depth {
                return Err(JailConfError::IncludeLoop {
                    at: at.clone(),
                    message: format!(
                        "includes nest more than {} deep at {}: is there an include loop?",
                        options.max_include_depth,
                        path.display()
                    ),
                });
            }
            let physical = glob::physical(&path, &options.root);
            let canonical = std::fs::canonicalize(&physical).unwrap_or_else(|_| physical.clone());
            if stack
                .iter()
                .any(|s| std::fs::canonicalize(s).unwrap_or_else(|_| s.clone()) == canonical)
            {
                return Err(JailConfError::IncludeLoop {
                    at: at.clone(),
                    message: format!("include loop: {} is already being read", path.display()),
                });
            }
            let text =
                std::fs::read_to_string(&physical).map_err(|source| JailConfError::Include {
                    at: at.clone(),
                    path: path.clone(),
                    source,
                })?;
            self.load(&text, &path, options, stack)?;
        }
        Ok(())
    }
}

/// `name` without a `no` prefix on its last component.
fn base_name(name: &str) -> String {
    let (head, last) = match name.rfind('.') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    match last.strip_prefix("no") {
        Some(rest) if !rest.is_empty() => format!("{head}{rest}"),
        _ => name.to_string(),
    }
}

/// A value as jail.conf would need it written: bare when it is a plain token, else
/// double-quoted with escapes.
pub fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/@%".contains(c))
        && !text.contains("//")
        && !text.contains("/*");
    if plain {
        return text.to_string();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:03o}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
