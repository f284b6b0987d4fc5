//! Rust source as the few tokens the import check reads: identifiers, punctuation, string
//! literals (for `#[path = "..."]`) and line numbers. Comments, other literals and lifetimes are
//! dropped, so that a `crate::x` in a comment or a string is no reference.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Ident(String),
    Punct(char),
    Str(String),
}

#[derive(Debug, Clone)]
pub struct Token {
    pub kind: Kind,
    pub line: usize,
}

impl Token {
    pub fn is_ident(&self, name: &str) -> bool {
        matches!(&self.kind, Kind::Ident(i) if i == name)
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.kind == Kind::Punct(c)
    }

    pub fn ident(&self) -> Option<&str> {
        match &self.kind {
            Kind::Ident(i) => Some(i),
            _ => None,
        }
    }
}

pub fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            loop {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(at(i) == '\n');
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"..", r#".."#, br#".."# : no escapes, ends at a quote followed by as many hashes.
            let start_line = line;
            i += hashes.1;
            let body_start = i;
            while !(at(i) == '"' && (1..=hashes.0).all(|k| at(i + k) == '#')) {
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            out.push(Token { kind: Kind::Str(chars[body_start..i].iter().collect()), line: start_line });
            i += 1 + hashes.0;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let start_line = line;
            i += if c == 'b' { 2 } else { 1 };
            let body_start = i;
            while at(i) != '"' {
                line += usize::from(at(i) == '\n');
                i += if at(i) == '\\' { 2 } else { 1 };
            }
            out.push(Token { kind: Kind::Str(chars[body_start..i].iter().collect()), line: start_line });
            i += 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): a lifetime has no closing quote
            // right after its first character.
            let j = if c == 'b' { i + 1 } else { i };
            if at(j + 1) == '\\' {
                i = j + 3;
                while at(i) != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(j + 2) == '\'' {
                i = j + 3;
            } else {
                i = j + 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token { kind: Kind::Ident(word), line });
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' || (at(i) == '.' && at(i + 1).is_ascii_digit()) {
                i += 1;
            }
        } else {
            out.push(Token { kind: Kind::Punct(c), line });
            i += 1;
        }
    }
    out
}

/// At a raw string's start, its number of hashes and the length of its opening (`br##"` is 2, 5).
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') || (i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')) {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes + 1 - i))
}

#[test]
fn comments_strings_and_lifetimes_are_no_tokens() {
    let text = "// crate::a\nfn f<'a>(x: &'a str) { let _ = (\"crate::b\", r#\"crate::c\"#, '\\'', 'd'); /* crate::e /* */ */ crate::g }";
    let words: Vec<String> = tokens(text).into_iter().filter_map(|t| t.ident().map(str::to_owned)).collect();
    assert_eq!(words, ["fn", "f", "x", "str", "let", "_", "crate", "g"]);
}
