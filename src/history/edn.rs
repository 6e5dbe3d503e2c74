//! A small EDN reader: what Jepsen, Knossos, Elle and Porcupine write, and nothing more.
//!
//! No EDN crate fits (streaming from a `BufRead`, line numbers in errors, tagged literals
//! kept so `#jepsen.independent/tuple` can be recognised), so this is a hand-written
//! recursive-descent reader. It handles `nil`, booleans, strings with escapes, characters,
//! integers (also `N`-suffixed and beyond 64 bits), floats (also `M`-suffixed and `##Inf`),
//! keywords, symbols, lists, vectors, maps, sets, tagged literals (`#inst "..."`,
//! `#jepsen.history.Op{...}`), `#_` discards, `;` comments, and commas as whitespace.
//!
//! [`Edn::to_json`] maps the result onto JSON: keywords and symbols become strings without
//! the colon, `nil` becomes `null`, lists, vectors and sets become arrays, map keys become
//! strings, and tags are dropped (the tagged value is kept).

use std::fmt;
use std::io::BufRead;

use serde_json::{Map, Number, Value};

/// One EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer beyond `i64`, as its decimal digits (with `-` when negative).
    BigInt(String),
    /// A floating-point number.
    Float(f64),
    /// A string, escapes resolved.
    Str(String),
    /// A character literal (`\a`, `\newline`).
    Char(char),
    /// A keyword, without its leading colon (`:read` is `Keyword("read")`).
    Keyword(String),
    /// A symbol other than `nil`, `true` and `false`.
    Symbol(String),
    /// `( ... )`.
    List(Vec<Edn>),
    /// `[ ... ]`.
    Vector(Vec<Edn>),
    /// `{ k v ... }`, in file order.
    Map(Vec<(Edn, Edn)>),
    /// `#{ ... }`, in file order.
    Set(Vec<Edn>),
    /// `#tag value`: the tag (without `#`) and the value it applies to.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value as JSON (see the module doc for the mapping).
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(n) => Value::from(*n),
            Edn::BigInt(digits) => match digits.parse::<u64>() {
                Ok(n) => Value::from(n),
                // Beyond u64: JSON numbers here cannot hold it exactly; the digits can.
                Err(_) => Value::String(digits.clone()),
            },
            Edn::Float(x) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::List(items) | Edn::Vector(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_string(), v.to_json()))
                    .collect::<Map<String, Value>>(),
            ),
            Edn::Tagged(_, inner) => inner.to_json(),
        }
    }

    /// A map key as a JSON object key: names and strings as themselves, integers in decimal,
    /// anything else in its EDN form.
    fn key_string(&self) -> String {
        match self {
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) | Edn::BigInt(s) => s.clone(),
            Edn::Int(n) => n.to_string(),
            Edn::Tagged(_, inner) => inner.key_string(),
            other => other.to_string(),
        }
    }

    /// The value under keyword `key` when this is a map (`get("f")` looks up `:f`).
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Edn {
    /// EDN text for the value (used to quote values in error messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(close)
        }
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(n) => write!(f, "{n}"),
            Edn::BigInt(d) => write!(f, "{d}N"),
            Edn::Float(x) => write!(f, "{x:?}"),
            Edn::Str(s) => write_string(f, s),
            Edn::Char(c) => match c {
                '\n' => f.write_str("\\newline"),
                ' ' => f.write_str("\\space"),
                '\t' => f.write_str("\\tab"),
                c => write!(f, "\\{c}"),
            },
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::List(items) => seq(f, "(", items, ")"),
            Edn::Vector(items) => seq(f, "[", items, "]"),
            Edn::Set(items) => seq(f, "#{", items, "}"),
            Edn::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Edn::Tagged(tag, inner) => write!(f, "#{tag} {inner}"),
        }
    }
}

/// Writes `s` as an EDN string literal.
fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A syntax (or read) error at a line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EdnError {
    /// 1-based line where the problem was found.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Parses the text of exactly one EDN value (whitespace and comments around it allowed).
pub fn parse_str(text: &str) -> Result<Edn, EdnError> {
    let mut r = EdnReader::new(text.as_bytes());
    let Some(form) = r.next_form()? else {
        return Err(r.error("expected a value, found the end of the input"));
    };
    if r.peek_significant()?.is_some() {
        return Err(r.error("unexpected text after the value"));
    }
    Ok(form)
}

/// Deepest nesting accepted, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 256;

/// Reads EDN forms from a `BufRead` one line at a time, tracking the line number.
#[derive(Debug)]
pub struct EdnReader<R: BufRead> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    line: u64,
    eof: bool,
    depth: usize,
}

impl<R: BufRead> EdnReader<R> {
    /// A reader at the start of `reader`.
    pub fn new(reader: R) -> Self {
        EdnReader {
            reader,
            buf: Vec::new(),
            pos: 0,
            line: 0,
            eof: false,
            depth: 0,
        }
    }

    /// The 1-based line of the next unread byte (of the last line once at the end).
    pub fn line(&self) -> u64 {
        self.line.max(1)
    }

    /// An error at the current line.
    pub fn error(&self, message: impl Into<String>) -> EdnError {
        EdnError {
            line: self.line(),
            message: message.into(),
        }
    }

    /// The next byte, without consuming it; `None` at the end of the input.
    fn peek(&mut self) -> Result<Option<u8>, EdnError> {
        while self.pos >= self.buf.len() {
            if self.eof {
                return Ok(None);
            }
            self.buf.clear();
            self.pos = 0;
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| self.error(format!("read error: {e}")))?;
            if n == 0 {
                self.eof = true;
                return Ok(None);
            }
            self.line += 1;
            if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
            }
        }
        Ok(Some(self.buf[self.pos]))
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    /// Skips whitespace, commas and `;` comments; returns the next byte without consuming it.
    pub fn peek_significant(&mut self) -> Result<Option<u8>, EdnError> {
        loop {
            match self.peek()? {
                Some(b) if b.is_ascii_whitespace() || b == b',' => self.bump(),
                Some(b';') => {
                    // A comment runs to the end of the line, which is the end of `buf`.
                    self.pos = self.buf.len();
                }
                other => return Ok(other),
            }
        }
    }

    /// Like [`EdnReader::peek_significant`], but also skips `#_` discarded forms, so the byte
    /// returned starts a form that is kept (or closes a collection).
    pub fn peek_form_start(&mut self) -> Result<Option<u8>, EdnError> {
        loop {
            match self.peek_significant()? {
                Some(b'#') if self.discard_follows()? => {
                    self.read_form()?;
                }
                other => return Ok(other),
            }
        }
    }

    /// Consumes the byte `peek_significant` just returned (used to step into a collection).
    pub fn consume_byte(&mut self) {
        self.bump();
    }

    /// The next form, or `None` at the end of the input.
    pub fn next_form(&mut self) -> Result<Option<Edn>, EdnError> {
        match self.peek_form_start()? {
            None => Ok(None),
            Some(_) => self.read_form().map(Some),
        }
    }

    /// Reads one form; the caller has checked that one starts here.
    fn read_form(&mut self) -> Result<Edn, EdnError> {
        let Some(b) = self.peek_significant()? else {
            return Err(self.error("unexpected end of input, expected a value"));
        };
        match b {
            b'(' | b'[' | b'{' => {
                self.bump();
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error("values nested too deeply"));
                }
                let close = match b {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                let items = self.read_seq(b, close)?;
                self.depth -= 1;
                match b {
                    b'(' => Ok(Edn::List(items)),
                    b'[' => Ok(Edn::Vector(items)),
                    _ => self.build_map(items),
                }
            }
            b')' | b']' | b'}' => Err(self.error(format!("unexpected '{}'", b as char))),
            b'"' => {
                self.bump();
                self.read_string().map(Edn::Str)
            }
            b'\\' => {
                self.bump();
                self.read_char()
            }
            b'#' => {
                self.bump();
                self.read_dispatch()
            }
            b':' => {
                self.bump();
                let token = self.read_token()?;
                if token.is_empty() {
                    return Err(self.error("empty keyword ':'"));
                }
                Ok(Edn::Keyword(token))
            }
            _ => {
                let token = self.read_token()?;
                if token.is_empty() {
                    return Err(self.error(format!("unexpected character '{}'", b as char)));
                }
                self.atom(token)
            }
        }
    }

    /// Reads forms until `close`; `open` is for the message when the input ends first.
    fn read_seq(&mut self, open: u8, close: u8) -> Result<Vec<Edn>, EdnError> {
        let start = self.line();
        let mut items = Vec::new();
        loop {
            match self.peek_form_start()? {
                None => {
                    return Err(self.error(format!(
                        "'{}' opened at line {start} is never closed",
                        open as char
                    )))
                }
                Some(b) if b == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.read_form()?),
            }
        }
    }

    /// At a `#`: if it starts a `#_` discard, consumes `#_` and returns true.
    fn discard_follows(&mut self) -> Result<bool, EdnError> {
        if self.buf.get(self.pos + 1) == Some(&b'_') {
            self.pos += 2;
            return Ok(true);
        }
        Ok(false)
    }

    fn build_map(&self, items: Vec<Edn>) -> Result<Edn, EdnError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.error("a map needs an even number of forms (a value for every key)"));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            entries.push((k, v));
        }
        Ok(Edn::Map(entries))
    }

    /// After `#`: a set, a discard, a symbolic value (`##Inf`) or a tagged literal.
    fn read_dispatch(&mut self) -> Result<Edn, EdnError> {
        match self.peek()? {
            Some(b'{') => {
                self.bump();
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error("values nested too deeply"));
                }
                let items = self.read_seq(b'{', b'}')?;
                self.depth -= 1;
                Ok(Edn::Set(items))
            }
            Some(b'_') => {
                self.bump();
                self.read_form()?;
                self.read_form()
            }
            Some(b'#') => {
                self.bump();
                let token = self.read_token()?;
                match token.as_str() {
                    "Inf" => Ok(Edn::Float(f64::INFINITY)),
                    "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Edn::Float(f64::NAN)),
                    other => Err(self.error(format!("unknown symbolic value ##{other}"))),
                }
            }
            Some(b'"') => {
                // A Clojure regex literal: keep its text.
                self.bump();
                self.read_string().map(Edn::Str)
            }
            _ => {
                let tag = self.read_token()?;
                if tag.is_empty() {
                    return Err(self.error("'#' must be followed by a tag, '{' or '_'"));
                }
                // A record literal (`#jepsen.history.Op{...}`) has its map right after the tag.
                let inner = self.read_form()?;
                Ok(Edn::Tagged(tag, Box::new(inner)))
            }
        }
    }

    /// Bytes up to the next delimiter, as text.
    fn read_token(&mut self) -> Result<String, EdnError> {
        let start = self.pos;
        // A token never spans lines: the newline is whitespace, and `buf` holds one line.
        while let Some(&b) = self.buf.get(self.pos) {
            if b.is_ascii_whitespace() || b"()[]{}\",;".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8(self.buf[start..self.pos].to_vec())
            .map_err(|_| self.error("invalid UTF-8"))
    }

    /// A symbol or number token.
    fn atom(&self, token: String) -> Result<Edn, EdnError> {
        match token.as_str() {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let bytes = token.as_bytes();
        let numeric = bytes[0].is_ascii_digit()
            || (matches!(bytes[0], b'-' | b'+') && bytes.get(1).is_some_and(u8::is_ascii_digit));
        if !numeric {
            return Ok(Edn::Symbol(token));
        }
        self.number(&token)
    }

    fn number(&self, token: &str) -> Result<Edn, EdnError> {
        let bad = || self.error(format!("invalid number {token:?}"));
        let unsigned = token.strip_prefix('+').unwrap_or(token);
        if let Some(digits) = unsigned.strip_suffix('N') {
            return integer(digits).ok_or_else(bad);
        }
        if token.contains('/') {
            return Err(self.error(format!("ratios are not supported: {token:?}")));
        }
        if let Some(decimal) = unsigned.strip_suffix('M') {
            return decimal.parse::<f64>().map(Edn::Float).map_err(|_| bad());
        }
        if unsigned.contains(['.', 'e', 'E']) {
            return unsigned.parse::<f64>().map(Edn::Float).map_err(|_| bad());
        }
        integer(unsigned).ok_or_else(bad)
    }

    /// After the opening quote: the string's contents up to the closing quote.
    fn read_string(&mut self) -> Result<String, EdnError> {
        let start = self.line();
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek()? else {
                return Err(self.error(format!("string opened at line {start} is never closed")));
            };
            self.bump();
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek()? else { continue };
                    self.bump();
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'"' | b'\\' | b'\'' => out.push(e),
                        b'u' => {
                            let c = self.read_unicode_escape()?;
                            let mut tmp = [0; 4];
                            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                        }
                        other => {
                            return Err(
                                self.error(format!("unknown string escape '\\{}'", other as char))
                            )
                        }
                    }
                }
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in string"))
    }

    /// Four hex digits after `\u`.
    fn read_unicode_escape(&mut self) -> Result<char, EdnError> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()?
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.error("'\\u' must be followed by four hex digits"))?;
            self.bump();
            code = code * 16 + digit;
        }
        char::from_u32(code).ok_or_else(|| self.error(format!("invalid character \\u{code:04x}")))
    }

    /// After a backslash: a character literal.
    fn read_char(&mut self) -> Result<Edn, EdnError> {
        // The first character is taken even if it is a delimiter (`\(`, `\,`).
        let first = match self.buf.get(self.pos) {
            Some(&b) if !b.is_ascii_whitespace() => b,
            _ => return Err(self.error("'\\' must be followed by a character")),
        };
        let start = self.pos;
        let width = utf8_width(first);
        self.pos = (self.pos + width).min(self.buf.len());
        let rest = self.read_token()?;
        let head = std::str::from_utf8(&self.buf[start..start + width.min(self.buf.len() - start)])
            .map_err(|_| self.error("invalid UTF-8"))?
            .to_string();
        let name = head + &rest;
        let c = match name.as_str() {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            n if n.starts_with('u') && n.len() == 5 => u32::from_str_radix(&n[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.error(format!("invalid character literal \\{n}")))?,
            n => {
                let mut chars = n.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => return Err(self.error(format!("unknown character literal \\{n}"))),
                }
            }
        };
        Ok(Edn::Char(c))
    }
}

/// Length of the UTF-8 sequence a leading byte starts.
fn utf8_width(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// An integer token (optional `-`, digits): `Int` when it fits, `BigInt` otherwise.
fn integer(text: &str) -> Option<Edn> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(n) => Edn::Int(n),
        Err(_) => {
            let trimmed = digits.trim_start_matches('0');
            let sign = if text.starts_with('-') { "-" } else { "" };
            Edn::BigInt(format!("{sign}{trimmed}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Edn {
        parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn j(text: &str) -> Value {
        p(text).to_json()
    }

    #[test]
    fn scalars() {
        assert_eq!(p("nil"), Edn::Nil);
        assert_eq!(p("true"), Edn::Bool(true));
        assert_eq!(p("false"), Edn::Bool(false));
        assert_eq!(p("42"), Edn::Int(42));
        assert_eq!(p("-7"), Edn::Int(-7));
        assert_eq!(p("+7"), Edn::Int(7));
        assert_eq!(p("12N"), Edn::Int(12));
        assert_eq!(p("-9223372036854775808"), Edn::Int(i64::MIN));
        assert_eq!(
            p("18446744073709551615"),
            Edn::BigInt("18446744073709551615".into())
        );
        assert_eq!(
            p("-99999999999999999999N"),
            Edn::BigInt("-99999999999999999999".into())
        );
        assert_eq!(p("1.5"), Edn::Float(1.5));
        assert_eq!(p("-2e3"), Edn::Float(-2000.0));
        assert_eq!(p("1.25M"), Edn::Float(1.25));
        assert_eq!(p("##Inf"), Edn::Float(f64::INFINITY));
        assert_eq!(p(":read"), Edn::Keyword("read".into()));
        assert_eq!(p(":jepsen.x/y"), Edn::Keyword("jepsen.x/y".into()));
        assert_eq!(p("foo-bar"), Edn::Symbol("foo-bar".into()));
        assert_eq!(p("-"), Edn::Symbol("-".into()));
    }

    #[test]
    fn strings_and_chars() {
        assert_eq!(
            p(r#""a\"b\\c\nd\te\u00e9""#),
            Edn::Str("a\"b\\c\nd\teé".into())
        );
        assert_eq!(p("\"multi\nline\""), Edn::Str("multi\nline".into()));
        assert_eq!(
            p("\"héllo ;not a comment\""),
            Edn::Str("héllo ;not a comment".into())
        );
        assert_eq!(p(r"\a"), Edn::Char('a'));
        assert_eq!(p(r"\newline"), Edn::Char('\n'));
        assert_eq!(p(r"\space"), Edn::Char(' '));
        assert_eq!(p(r"\u0041"), Edn::Char('A'));
        assert_eq!(p(r"\("), Edn::Char('('));
        assert_eq!(p(r"\é"), Edn::Char('é'));
        assert_eq!(
            p(r"[\a \b]"),
            Edn::Vector(vec![Edn::Char('a'), Edn::Char('b')])
        );
    }

    #[test]
    fn collections_comments_commas_tags_and_discards() {
        assert_eq!(
            j("; a comment\n{:a 1, :b [1 2 (3)], \"s\" #{:x}, 7 nil} ; trailing"),
            json!({"a": 1, "b": [1, 2, [3]], "s": ["x"], "7": null})
        );
        assert_eq!(
            j("#inst \"2020-01-01T00:00:00Z\""),
            json!("2020-01-01T00:00:00Z")
        );
        assert_eq!(
            p("#jepsen.independent/tuple [1 2]"),
            Edn::Tagged(
                "jepsen.independent/tuple".into(),
                Box::new(Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]))
            )
        );
        assert_eq!(j("#jepsen.history.Op{:index 0}"), json!({"index": 0}));
        assert_eq!(j("[1 #_ 2 3 #_[4 5]]"), json!([1, 3]));
        assert_eq!(
            j("[[:r 253 [1 3 4]] [:append 253 1]]"),
            json!([["r", 253, [1, 3, 4]], ["append", 253, 1]])
        );
        assert_eq!(j("{[1 2] :v}"), json!({"[1 2]": "v"}));
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse_str("[1 2\n 3").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("'[' opened at line 1 is never closed"),
            "{e}"
        );
        let e = parse_str("{:a 1\n :b}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("even number"), "{e}");
        let e = parse_str("\n\n)").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "unexpected ')'"));
        let e = parse_str("\"abc").unwrap_err();
        assert!(e.message.contains("never closed"), "{e}");
        let e = parse_str("1/2").unwrap_err();
        assert!(e.message.contains("ratios"), "{e}");
        let e = parse_str("12abc").unwrap_err();
        assert!(e.message.contains("invalid number \"12abc\""), "{e}");
        let e = parse_str("\"\\q\"").unwrap_err();
        assert!(e.message.contains("unknown string escape"), "{e}");
        let e = parse_str("1 2").unwrap_err();
        assert!(e.message.contains("unexpected text"), "{e}");
        assert!(parse_str(&"[".repeat(1000))
            .unwrap_err()
            .message
            .contains("deeply"));
    }

    #[test]
    fn streams_top_level_forms() {
        let mut r = EdnReader::new(&b"{:a 1}\n; c\n{:a 2}\n\n"[..]);
        assert_eq!(r.next_form().unwrap().unwrap().to_json(), json!({"a": 1}));
        assert_eq!(r.next_form().unwrap().unwrap().to_json(), json!({"a": 2}));
        assert_eq!(r.line(), 3);
        assert_eq!(r.next_form().unwrap(), None);
    }

    fn edn_value() -> impl proptest::strategy::Strategy<Value = Edn> {
        use proptest::prelude::*;
        let name = "[a-z][a-z0-9.*+!?-]{0,6}(/[a-z][a-z0-9-]{0,4})?";
        let leaf = prop_oneof![
            Just(Edn::Nil),
            any::<bool>().prop_map(Edn::Bool),
            any::<i64>().prop_map(Edn::Int),
            "-?[1-9][0-9]{19,25}".prop_map(|d| integer(&d).unwrap_or(Edn::Nil)),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Edn::Float),
            any::<String>().prop_map(Edn::Str),
            "[a-zA-Z0-9]".prop_map(|c| Edn::Char(c.chars().next().unwrap_or('a'))),
            name.prop_map(Edn::Keyword),
            name.prop_filter("not a literal", |s| !["nil", "true", "false"]
                .contains(&s.as_str()))
                .prop_map(Edn::Symbol),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Edn::List),
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Edn::Vector),
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Edn::Set),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Edn::Map),
                ("[a-z][a-z.]{0,5}/[a-z]{1,5}", inner)
                    .prop_map(|(t, v)| Edn::Tagged(t, Box::new(v))),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(7),
            ..Default::default()
        })]

        /// Printing a value as EDN and reading it back gives the same value.
        #[test]
        fn display_then_parse_is_identity(v in edn_value()) {
            let text = v.to_string();
            let parsed = parse_str(&text);
            proptest::prop_assert_eq!(parsed, Ok(v), "text: {}", text);
        }

        /// The compact history's arena stores a value as `to_json` maps it, and in the
        /// word `push_value` of that JSON gives (so checkers comparing words agree).
        #[test]
        fn the_arena_stores_what_to_json_gives(v in edn_value()) {
            let mut arena = crate::history::compact::Arena::new();
            let pushed = arena.push_edn(&v);
            let json = v.to_json();
            proptest::prop_assert_eq!(arena.value(pushed), json.clone());
            let via_json = arena.push_value(&json);
            proptest::prop_assert!(arena.equal(pushed, via_json));
            proptest::prop_assert!(!pushed.is_canonical() || pushed == via_json);
        }
    }

    #[test]
    fn display_is_edn() {
        let text = r#"{:a [1 "x" nil], :b #{\c}, :c (1.5 sym), :d #t 1}"#;
        assert_eq!(p(text).to_string(), text);
    }
}
