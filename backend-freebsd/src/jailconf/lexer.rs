//! The jail.conf(5) tokenizer, after FreeBSD's `usr.sbin/jail/jaillex.l`.
//!
//! A *word* is a run of pieces with nothing between them: unquoted atoms, backslash
//! escapes, `'single'` and `"double"` quoted strings, and `$var` / `${var}` references.
//! `path = "/jails/"$name'-root';` has one word after `=`. Whitespace, comments and the
//! punctuation `{ } ; , = +=` end a word. Quirks kept on purpose, because jail(8) has them
//! and an imported file must mean what it meant there:
//! - backslash escapes work in single quotes too; only variables stay literal there;
//! - `//` and `/*` start a comment even in the middle of an unquoted word
//!   (`path = /usr//local;` is `/usr`);
//! - a `$` not followed by a name is a literal dollar;
//! - a backslash before a newline removes both, inside or outside quotes.

use super::Position;
use std::sync::Arc;

use std::path::Path;

/// One part of a word: literal text or a variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    /// Text, escapes already processed.
    Lit(String),
    /// `$name` or `${name}`; the position is the `$`'s.
    Var { name: String, at: Position },
}

/// A word: pieces glued together, and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub pieces: Vec<Piece>,
    pub at: Position,
    /// Whether any part was quoted (a quoted `".include"` is not the directive).
    pub quoted: bool,
}

impl Word {
    /// The text when the word has no variable in it.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var { .. } => return None,
            }
        }
        Some(out)
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Word(Word),
    Open,
    Close,
    Semi,
    Comma,
    Eq,
    PlusEq,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => match w.literal() {
                Some(s) => format!("{s:?}"),
                None => "a string".to_string(),
            },
            Tok::Open => "'{'".into(),
            Tok::Close => "'}'".into(),
            Tok::Semi => "';'".into(),
            Tok::Comma => "','".into(),
            Tok::Eq => "'='".into(),
            Tok::PlusEq => "'+='".into(),
            Tok::Eof => "the end of the file".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub tok: Tok,
    pub at: Position,
}

/// A lexing error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LexError {
    pub at: Position,
    pub message: String,
}

/// Characters that make up an unquoted atom (jaillex.l's atom class, plus the
/// single-character atoms `$ * + / \` that get special treatment below).
fn is_atom_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_!%&()-.:<>?@[]^`|~".contains(c)
}

fn is_var_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    chars: Vec<char>,
    i: usize,
    line: usize,
    column: usize,
    file: &'a Arc<Path>,
}

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(super) fn tokenize(text: &str, file: &Arc<Path>) -> Result<Vec<Token>, LexError> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        column: 1,
        file,
    };
    let mut out = Vec::new();
    loop {
        let tok = lx.next_token()?;
        let end = tok.tok == Tok::Eof;
        out.push(tok);
        if end {
            return Ok(out);
        }
    }
}

impl Lexer<'_> {
    fn pos(&self) -> Position {
        Position {
            file: Arc::clone(self.file),
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error<T>(&self, at: Position, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            at,
            message: message.into(),
        })
    }

    /// Skips whitespace, comments and backslash-newline continuations.
    fn skip_blank(&mut self) -> Result<(), LexError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('\\'), Some('\n')) => {
                    self.bump();
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => self.skip_line(),
                (Some('/'), Some('*')) => self.skip_block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                return;
            }
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), LexError> {
        let at = self.pos();
        self.bump();
        self.bump();
        loop {
            match self.bump() {
                None => return self.error(at, "unterminated comment: '/*' has no '*/'"),
                Some('*') if self.peek() == Some('/') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_blank()?;
        let at = self.pos();
        let tok = match self.peek() {
            None => Tok::Eof,
            Some('{') => self.punct(Tok::Open),
            Some('}') => self.punct(Tok::Close),
            Some(';') => self.punct(Tok::Semi),
            Some(',') => self.punct(Tok::Comma),
            Some('=') => self.punct(Tok::Eq),
            Some('+') if self.peek_at(1) == Some('=') => {
                self.bump();
                self.punct(Tok::PlusEq)
            }
            Some(_) => Tok::Word(self.word(at.clone())?),
        };
        Ok(Token { tok, at })
    }

    fn punct(&mut self, tok: Tok) -> Tok {
        self.bump();
        tok
    }

    /// Reads pieces until something that ends a word.
    fn word(&mut self, at: Position) -> Result<Word, LexError> {
        let mut w = WordBuilder::default();
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    w.quoted = true;
                    self.double_quoted(&mut w)?;
                }
                '\'' => {
                    w.quoted = true;
                    self.single_quoted(&mut w)?;
                }
                '$' => self.variable(&mut w, false)?,
                '\\' => {
                    self.bump();
                    self.escape(&mut w);
                }
                '/' if matches!(self.peek_at(1), Some('/' | '*')) => break,
                '+' if self.peek_at(1) == Some('=') => break,
                c if is_atom_char(c) || matches!(c, '*' | '+' | '/') => {
                    self.bump();
                    w.lit(c);
                }
                c if c.is_whitespace() || "#{};,=".contains(c) => break,
                c => {
                    return self.error(
                        self.pos(),
                        format!("unexpected character {c:?}; quote values that contain it"),
                    )
                }
            }
        }
        Ok(w.finish(at))
    }

    /// After a backslash: a C escape, or the next character itself.
    fn escape(&mut self, w: &mut WordBuilder) {
        let Some(c) = self.bump() else {
            // A backslash at the very end of the file is a literal backslash.
            w.lit('\\');
            return;
        };
        let ch = match c {
            '\n' => return,
            '0'..='7' => {
                let mut n = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            self.bump();
                            n = n * 8 + (d as u32 - '0' as u32);
                        }
                        _ => break,
                    }
                }
                // Three octal digits reach 0o777; jail(8) keeps the low byte.
                char::from((n & 0xff) as u8)
            }
            'x' => {
                let mut n = 0u32;
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(16)) {
                        Some(d) => {
                            self.bump();
                            n = n * 16 + d;
                        }
                        None => break,
                    }
                }
                char::from((n & 0xff) as u8)
            }
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            other => other,
        };
        w.lit(ch);
    }

    fn double_quoted(&mut self, w: &mut WordBuilder) -> Result<(), LexError> {
        let at = self.pos();
        self.bump();
        loop {
            match self.peek() {
                None => return self.error(at, "unterminated string: '\"' has no closing '\"'"),
                Some('"') => {
                    self.bump();
                    return Ok(());
                }
                Some('\\') => {
                    self.bump();
                    self.escape(w);
                }
                Some('$') => self.variable(w, true)?,
                Some(c) => {
                    self.bump();
                    w.lit(c);
                }
            }
        }
    }

    fn single_quoted(&mut self, w: &mut WordBuilder) -> Result<(), LexError> {
        let at = self.pos();
        self.bump();
        loop {
            match self.peek() {
                None => return self.error(at, "unterminated string: \"'\" has no closing \"'\""),
                Some('\'') => {
                    self.bump();
                    return Ok(());
                }
                Some('\\') => {
                    self.bump();
                    self.escape(w);
                }
                Some(c) => {
                    self.bump();
                    w.lit(c);
                }
            }
        }
    }

    /// At a `$`: `$name`, `${name}`, or a literal dollar.
    fn variable(&mut self, w: &mut WordBuilder, in_quotes: bool) -> Result<(), LexError> {
        let at = self.pos();
        match self.peek_at(1) {
            Some(c) if is_var_start(c) => {
                self.bump();
                let mut name = String::new();
                while let Some(c) = self.peek().filter(|c| is_var_char(*c)) {
                    self.bump();
                    name.push(c);
                }
                w.var(name, at);
            }
            Some('{') => {
                self.bump();
                self.bump();
                let mut name = String::new();
                loop {
                    match self.peek() {
                        Some('}') => {
                            self.bump();
                            break;
                        }
                        Some('\\') if self.peek_at(1).is_some() => {
                            self.bump();
                            let mut inner = WordBuilder::default();
                            self.escape(&mut inner);
                            name.push_str(&inner.text);
                        }
                        Some('"') if in_quotes => {
                            return self.error(
                                at,
                                "unterminated variable: '${' has no '}' before the closing quote",
                            )
                        }
                        None | Some('\n' | '{') => {
                            return self
                                .error(at, "unterminated variable: '${' has no '}' on its line")
                        }
                        Some(c) => {
                            self.bump();
                            name.push(c);
                        }
                    }
                }
                if name.is_empty() {
                    return self.error(at, "empty variable name '${}'");
                }
                w.var(name, at);
            }
            _ => {
                self.bump();
                w.lit('$');
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct WordBuilder {
    pieces: Vec<Piece>,
    text: String,
    quoted: bool,
}

impl WordBuilder {
    fn lit(&mut self, c: char) {
        self.text.push(c);
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.pieces.push(Piece::Lit(std::mem::take(&mut self.text)));
        }
    }

    fn var(&mut self, name: String, at: Position) {
        self.flush();
        self.pieces.push(Piece::Var { name, at });
    }

    fn finish(mut self, at: Position) -> Word {
        self.flush();
        if self.pieces.is_empty() {
            // `''` or `""`: an empty string is still a value.
            self.pieces.push(Piece::Lit(String::new()));
        }
        Word {
            pieces: self.pieces,
            at,
            quoted: self.quoted,
        }
    }
}
