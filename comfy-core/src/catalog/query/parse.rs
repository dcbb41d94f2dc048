//! The CQL grammar: tokens with their columns, and a recursive-descent parser whose errors say
//! where the query went wrong and what would have been valid there.
//!
//! ```text
//! query  := source ('|' stage)*
//! source := 'path' TYPE ('->' | '→' | 'to') TYPE ['depth' N]
//!         | 'upstream' CLASS | 'downstream' CLASS | 'all' | stage
//! stage  := 'sort' KEY ['asc' | 'desc'] | 'limit' N | expr
//! expr   := and ('OR' and)*        and := unary ('AND' unary)*
//! unary  := 'NOT' unary | '(' expr ')' | atom
//! atom   := 'produces' TYPE | 'accepts' TYPE | 'category' TEXT | 'name' TEXT
//!         | 'deprecated' | 'experimental' | 'api' | 'output'
//! ```
//!
//! Keywords are case-insensitive; a word with spaces is quoted (`"api node/image"`).

use crate::error::{Error, Result};

/// The most classes or paths a query may ask for.
pub const MAX_LIMIT: usize = 500;
/// The longest path a query may ask for.
pub const MAX_DEPTH: usize = 6;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(u64),
    Pipe,
    Open,
    Close,
    Arrow,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character column.
    col: usize,
    /// As written.
    text: String,
}

/// A boolean predicate over one class.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// Has an output of this type.
    Produces(String),
    /// Has a link input accepting this type.
    Accepts(String),
    /// Its category starts with this (case-insensitive, `/`-separated).
    Category(String),
    /// Its class or display name contains this (case-insensitive).
    Name(String),
    /// Marked deprecated.
    Deprecated,
    /// Marked experimental.
    Experimental,
    /// A partner (API) node.
    Api,
    /// An output node.
    Output,
    /// Negation.
    Not(Box<Pred>),
    /// Both.
    And(Box<Pred>, Box<Pred>),
    /// Either.
    Or(Box<Pred>, Box<Pred>),
}

/// Where the results come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Every class.
    All,
    /// Classes whose outputs can feed an input of this class.
    Upstream(String),
    /// Classes with an input that takes an output of this class.
    Downstream(String),
    /// Chains of classes turning one type into another.
    Path {
        /// Start type.
        from: String,
        /// Goal type.
        to: String,
        /// Most steps.
        depth: usize,
    },
}

/// A sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Class name.
    Name,
    /// Category.
    Category,
    /// How many classes it connects to.
    Connections,
    /// Path length.
    Length,
}

/// A stage after the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Keep what matches (classes; for paths, every step must match).
    Filter(Pred),
    /// Order by a key.
    Sort {
        /// The key.
        key: SortKey,
        /// Descending.
        desc: bool,
        /// Column of the key (for errors about keys that do not fit the results).
        col: usize,
    },
    /// Keep the first N.
    Limit(usize),
}

/// A parsed query. Type and class arguments keep their column for the engine's errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Where results come from.
    pub source: Source,
    /// Column of the source's class or first type argument (0 for `all`).
    pub source_col: usize,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Columns of every `produces`/`accepts` type, for unknown-type errors.
    pub type_cols: Vec<(String, usize)>,
}

fn err(col: usize, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::InvalidQuery { column: col, expected: expected.into(), found: found.into() }
}

fn lex(text: &str) -> Result<(Vec<Token>, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word_char = |c: char| c.is_alphanumeric() || "_./*+:-".contains(c);
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '|' => Some(Tok::Pipe),
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            '→' => Some(Tok::Arrow),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token { tok, col, text: c.to_string() });
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'>') {
            out.push(Token { tok: Tok::Arrow, col, text: "->".into() });
            i += 2;
            continue;
        }
        if c == '"' || c == '\'' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|&q| q == c) else {
                return Err(err(col, format!("a closing {c}"), "end of query"));
            };
            let s: String = chars[start..start + len].iter().collect();
            out.push(Token { tok: Tok::Str(s.clone()), col, text: format!("{c}{s}{c}") });
            i = start + len + 1;
            continue;
        }
        if word_char(c) {
            let start = i;
            while i < chars.len()
                && word_char(chars[i])
                && !(chars[i] == '-' && chars.get(i + 1) == Some(&'>'))
            {
                i += 1;
            }
            let w: String = chars[start..i].iter().collect();
            let tok = match w.parse::<u64>() {
                Ok(n) => Tok::Num(n),
                Err(_) if w.chars().all(|c| c.is_ascii_digit()) => {
                    return Err(err(col, "a number small enough", w));
                }
                Err(_) => Tok::Word(w.clone()),
            };
            out.push(Token { tok, col, text: w });
            continue;
        }
        return Err(err(col, "a word, a quoted text, '|', '(', ')' or '->'", format!("'{c}'")));
    }
    Ok((out, chars.len() + 1))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end_col: usize,
    type_cols: Vec<(String, usize)>,
}

const ATOMS: &str = "produces, accepts, category, name, deprecated, experimental, api, output, NOT or '('";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Token { tok: Tok::Word(w), .. }) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn here(&self) -> (usize, String) {
        match self.peek() {
            Some(t) => (t.col, format!("'{}'", t.text)),
            None => (self.end_col, "end of query".into()),
        }
    }

    fn fail<T>(&self, expected: impl Into<String>) -> Result<T> {
        let (col, found) = self.here();
        Err(err(col, expected, found))
    }

    /// A word or quoted text (a type, class, category or name).
    fn text(&mut self, what: &str) -> Result<(String, usize)> {
        match self.peek() {
            Some(Token { tok: Tok::Word(w) | Tok::Str(w), col, .. }) if !w.is_empty() => {
                let out = (w.clone(), *col);
                self.pos += 1;
                Ok(out)
            }
            Some(Token { tok: Tok::Num(_), text, col }) => {
                let out = (text.clone(), *col);
                self.pos += 1;
                Ok(out)
            }
            _ => self.fail(what),
        }
    }

    fn number(&mut self, what: &str, max: usize) -> Result<usize> {
        match self.peek() {
            Some(Token { tok: Tok::Num(n), col, text }) => {
                let (n, col, text) = (*n, *col, text.clone());
                if n == 0 || n > max as u64 {
                    return Err(err(col, format!("{what} from 1 to {max}"), text));
                }
                self.pos += 1;
                Ok(n as usize)
            }
            _ => self.fail(format!("{what} (a number from 1 to {max})")),
        }
    }

    fn query(&mut self) -> Result<Query> {
        if self.tokens.is_empty() {
            return self.fail(format!("a query: all, path, upstream, downstream, sort, limit or {ATOMS}"));
        }
        let (source, source_col, mut stages) = self.source()?;
        loop {
            match self.peek() {
                None => break,
                Some(Token { tok: Tok::Pipe, .. }) => {
                    self.pos += 1;
                    stages.push(self.stage()?);
                }
                Some(_) => return self.fail("'|', AND, OR or the end of the query"),
            }
        }
        Ok(Query { source, source_col, stages, type_cols: std::mem::take(&mut self.type_cols) })
    }

    fn source(&mut self) -> Result<(Source, usize, Vec<Stage>)> {
        match self.keyword().as_deref() {
            Some("all") => {
                self.pos += 1;
                Ok((Source::All, 0, Vec::new()))
            }
            Some(k @ ("upstream" | "downstream")) => {
                let up = k == "upstream";
                self.pos += 1;
                let (class, col) = self.text("a node class name")?;
                Ok((if up { Source::Upstream(class) } else { Source::Downstream(class) }, col, Vec::new()))
            }
            Some("path") => {
                self.pos += 1;
                let (from, col) = self.text("the start type (e.g. MODEL)")?;
                match self.peek() {
                    Some(Token { tok: Tok::Arrow, .. }) => self.pos += 1,
                    Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case("to") => self.pos += 1,
                    _ => return self.fail("'->' between the two types"),
                }
                let (to, to_col) = self.text("the goal type (e.g. IMAGE)")?;
                self.type_cols.push((from.clone(), col));
                self.type_cols.push((to.clone(), to_col));
                let mut depth = 4;
                if self.keyword().as_deref() == Some("depth") {
                    self.pos += 1;
                    depth = self.number("a depth", MAX_DEPTH)?;
                }
                Ok((Source::Path { from, to, depth }, col, Vec::new()))
            }
            _ => Ok((Source::All, 0, vec![self.stage()?])),
        }
    }

    fn stage(&mut self) -> Result<Stage> {
        match self.keyword().as_deref() {
            Some("sort") => {
                self.pos += 1;
                let (col, _) = self.here();
                let key = match self.keyword().as_deref() {
                    Some("name") => SortKey::Name,
                    Some("category") => SortKey::Category,
                    Some("connections") => SortKey::Connections,
                    Some("length") => SortKey::Length,
                    _ => return self.fail("a sort key: name, category, connections or length"),
                };
                self.pos += 1;
                // Counts sort largest first, texts A to Z, unless told.
                let mut desc = key == SortKey::Connections;
                match self.keyword().as_deref() {
                    Some("asc") => (desc, self.pos) = (false, self.pos + 1),
                    Some("desc") => (desc, self.pos) = (true, self.pos + 1),
                    _ => {}
                }
                Ok(Stage::Sort { key, desc, col })
            }
            Some("limit") => {
                self.pos += 1;
                Ok(Stage::Limit(self.number("a limit", MAX_LIMIT)?))
            }
            Some(k @ ("path" | "upstream" | "downstream" | "all")) => {
                let (col, found) = self.here();
                Err(err(
                    col,
                    format!("{k} only at the start of the query; here sort, limit or a filter"),
                    found,
                ))
            }
            _ => Ok(Stage::Filter(self.or()?)),
        }
    }

    fn or(&mut self) -> Result<Pred> {
        let mut left = self.and()?;
        while self.keyword().as_deref() == Some("or") {
            self.pos += 1;
            left = Pred::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Pred> {
        let mut left = self.unary()?;
        while self.keyword().as_deref() == Some("and") {
            self.pos += 1;
            left = Pred::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Pred> {
        if let Some(Token { tok: Tok::Open, .. }) = self.peek() {
            self.pos += 1;
            let inner = self.or()?;
            return match self.peek() {
                Some(Token { tok: Tok::Close, .. }) => {
                    self.pos += 1;
                    Ok(inner)
                }
                _ => self.fail("')', AND or OR"),
            };
        }
        let Some(k) = self.keyword() else { return self.fail(ATOMS) };
        let simple = match k.as_str() {
            "deprecated" => Some(Pred::Deprecated),
            "experimental" => Some(Pred::Experimental),
            "api" => Some(Pred::Api),
            "output" => Some(Pred::Output),
            _ => None,
        };
        if let Some(p) = simple {
            self.pos += 1;
            return Ok(p);
        }
        match k.as_str() {
            "not" => {
                self.pos += 1;
                Ok(Pred::Not(Box::new(self.unary()?)))
            }
            "produces" | "accepts" => {
                self.pos += 1;
                let (t, col) = self.text("a type (e.g. IMAGE)")?;
                self.type_cols.push((t.clone(), col));
                Ok(if k == "produces" { Pred::Produces(t) } else { Pred::Accepts(t) })
            }
            "category" => {
                self.pos += 1;
                Ok(Pred::Category(self.text("a category (quote it if it has spaces)")?.0))
            }
            "name" => {
                self.pos += 1;
                Ok(Pred::Name(self.text("a name or part of one")?.0))
            }
            _ => self.fail(ATOMS),
        }
    }
}

/// Parses a query.
pub fn parse(text: &str) -> Result<Query> {
    let (tokens, end_col) = lex(text)?;
    Parser { tokens, pos: 0, end_col, type_cols: Vec::new() }.query()
}
