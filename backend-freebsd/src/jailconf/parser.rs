//! The jail.conf(5) grammar, after FreeBSD's `usr.sbin/jail/jailparse.y`:
//!
//! ```text
//! file    := { ';' | include | block | param ';' }
//! include := '.include' STRING ';'            (a literal, no variables)
//! block   := WORD '{' { param ';' | ';' } '}'
//! param   := NAME [ ('=' | '+=') value | value ]
//! value   := WORD { ',' WORD }
//! NAME    := a word of one piece: a parameter name, or `$var` for a variable
//! ```
//!
//! Parameters outside a block belong to a `*` (wildcard) pseudo-block, as in jail(8):
//! consecutive ones share one, and a named block in between starts a new one, which is
//! what makes "wildcard before a jail" and "wildcard after all jails" mean different
//! things.

use super::lexer::{Piece, Tok, Token, Word};
use super::Position;

/// One parameter or variable statement, not yet evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawParam {
    pub name: String,
    pub is_var: bool,
    pub append: bool,
    pub values: Vec<Word>,
    pub at: Position,
}

/// A statement at the top level of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    /// A parameter outside any block.
    Global(RawParam),
    /// `name { ... }`.
    Block {
        name: String,
        params: Vec<RawParam>,
        at: Position,
    },
    /// `.include "pattern";`.
    Include { pattern: String, at: Position },
}

/// A syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub at: Position,
    pub message: String,
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
}

/// Parses one file's tokens.
pub(super) fn parse(toks: Vec<Token>) -> Result<Vec<Item>, SyntaxError> {
    let mut p = Parser { toks, i: 0 };
    let mut items = Vec::new();
    loop {
        let t = p.peek().clone();
        match t.tok {
            Tok::Eof => return Ok(items),
            Tok::Semi => {
                p.next();
            }
            Tok::Word(ref w) if is_include(w) => {
                p.next();
                items.push(p.include(t.at)?);
            }
            Tok::Word(w) => {
                p.next();
                if p.peek().tok == Tok::Open {
                    p.next();
                    items.push(p.block(w, t.at)?);
                } else {
                    let param = p.param(w)?;
                    p.expect_semi(&param)?;
                    items.push(Item::Global(param));
                }
            }
            other => {
                return Err(SyntaxError {
                    at: t.at,
                    message: format!(
                        "unexpected {}; expected a parameter, a jail block or '.include'",
                        other.describe()
                    ),
                })
            }
        }
    }
}

fn is_include(w: &Word) -> bool {
    !w.quoted && w.literal().as_deref() == Some(".include")
}

impl Parser {
    fn peek(&self) -> &Token {
        // `toks` always ends with Eof and `next` never moves past it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn include(&mut self, at: Position) -> Result<Item, SyntaxError> {
        let t = self.next();
        let pattern = match &t.tok {
            Tok::Word(w) => match w.literal() {
                Some(s) if !s.is_empty() => s,
                Some(_) => return err(t.at, "'.include' needs a file name, not an empty string"),
                None => {
                    return err(
                        t.at,
                        "'.include' takes a literal file name; variables are not expanded there",
                    )
                }
            },
            other => {
                return err(
                    t.at,
                    format!(
                        "'.include' needs a file name in quotes, found {}",
                        other.describe()
                    ),
                )
            }
        };
        let semi = self.next();
        if semi.tok != Tok::Semi {
            return err(
                semi.at,
                format!(
                    "expected ';' after the '.include' file name, found {}",
                    semi.tok.describe()
                ),
            );
        }
        Ok(Item::Include { pattern, at })
    }

    fn block(&mut self, name: Word, at: Position) -> Result<Item, SyntaxError> {
        let name = match name.literal() {
            Some(n) if !n.is_empty() => n,
            Some(_) => return err(name.at, "a jail block needs a name"),
            None => return err(name.at, "a jail name cannot contain variables"),
        };
        let open_at = self.toks[self.i - 1].at.clone();
        let mut params = Vec::new();
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Close => {
                    self.next();
                    return Ok(Item::Block { name, params, at });
                }
                Tok::Semi => {
                    self.next();
                }
                Tok::Eof => {
                    return err(
                        open_at,
                        format!("the '{{' of jail {name:?} is never closed: add '}}' at the end of the block"),
                    )
                }
                Tok::Word(ref w) if is_include(w) => {
                    return err(
                        t.at,
                        "'.include' is allowed only outside jail blocks",
                    )
                }
                Tok::Word(w) => {
                    self.next();
                    if self.peek().tok == Tok::Open {
                        return err(
                            self.peek().at.clone(),
                            format!("jail blocks cannot nest: missing '}}' before {:?}?", w.literal().unwrap_or_default()),
                        );
                    }
                    let param = self.param(w)?;
                    self.expect_semi(&param)?;
                    params.push(param);
                }
                other => {
                    return err(
                        t.at,
                        format!(
                            "unexpected {} in jail {name:?}; expected a parameter or '}}'",
                            other.describe()
                        ),
                    )
                }
            }
        }
    }

    /// A parameter whose name word was just read; stops before the ';'.
    fn param(&mut self, name: Word) -> Result<RawParam, SyntaxError> {
        let (pname, is_var) = match name.pieces.as_slice() {
            [Piece::Lit(s)] if s.is_empty() => return err(name.at, "empty parameter name"),
            [Piece::Lit(s)] => (s.clone(), false),
            [Piece::Var { name: v, .. }] => (v.clone(), true),
            _ => {
                return err(
                    name.at,
                    "a parameter name must be one plain word (no variables, no quoted parts glued to it)",
                )
            }
        };
        let mut append = false;
        match self.peek().tok {
            Tok::Semi => {
                return Ok(RawParam {
                    name: pname,
                    is_var,
                    append,
                    values: Vec::new(),
                    at: name.at,
                })
            }
            Tok::Eq => {
                self.next();
            }
            Tok::PlusEq => {
                self.next();
                append = true;
            }
            _ => {}
        }
        let mut values = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Word(w) => values.push(w),
                other => {
                    let what = if values.is_empty() {
                        format!("a value for {}{pname}", if is_var { "$" } else { "" })
                    } else {
                        "a value after ','".to_string()
                    };
                    return err(t.at, format!("expected {what}, found {}", other.describe()));
                }
            }
            if self.peek().tok == Tok::Comma {
                self.next();
            } else {
                break;
            }
        }
        Ok(RawParam {
            name: pname,
            is_var,
            append,
            values,
            at: name.at,
        })
    }

    fn expect_semi(&mut self, param: &RawParam) -> Result<(), SyntaxError> {
        let t = self.peek().clone();
        if t.tok == Tok::Semi {
            self.next();
            return Ok(());
        }
        let hint = match t.tok {
            Tok::Word(_) => "; separate list values with ','",
            _ => "",
        };
        err(
            t.at,
            format!(
                "expected ';' after {}{}, found {}{hint}",
                if param.is_var { "$" } else { "" },
                param.name,
                t.tok.describe()
            ),
        )
    }
}

fn err<T>(at: Position, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        at,
        message: message.into(),
    })
}
