//! Source text as the parser sees it: code apart from comments and literals, doc comments,
//! and the small string helpers the other parts share.

use super::*;

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ is in the workspace")
        .to_path_buf()
}

// ---------------------------------------------------------------------------------------
// Lines: the source with comments and literals told apart from code.

/// A source file as lines: `raw`; `code`, with comments and the insides of string and char
/// literals blanked (same byte columns as `raw`); `nocom`, with only comments blanked; and
/// whether each line starts outside any comment or literal.
pub(crate) struct Lines {
    pub(crate) raw: Vec<String>,
    pub(crate) code: Vec<String>,
    pub(crate) nocom: Vec<String>,
    pub(crate) clean: Vec<bool>,
}

pub(crate) fn scan(text: &str) -> Lines {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        Code,
        Line,
        Block(u32),
        Str,
        Raw(usize),
    }
    pub(crate) fn blank(out: &mut String, c: char) {
        out.extend(std::iter::repeat_n(' ', c.len_utf8()));
    }
    let chars: Vec<char> = text.chars().collect();
    let (mut code, mut nocom) = (String::new(), String::new());
    let mut clean = vec![true];
    let mut s = S::Code;
    let ident = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            if s == S::Line {
                s = S::Code;
            }
            code.push('\n');
            nocom.push('\n');
            clean.push(s == S::Code);
            i += 1;
            continue;
        }
        let mut step = 1;
        match s {
            S::Code => {
                let prev = if i > 0 { chars.get(i - 1) } else { None };
                let raw_prefix =
                    c == 'r' && (!ident(prev) || (prev == Some(&'b') && (i < 2 || !ident(chars.get(i - 2)))));
                let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                if c == '/' && next == Some('/') {
                    s = S::Line;
                    blank(&mut code, c);
                    blank(&mut nocom, c);
                } else if c == '/' && next == Some('*') {
                    s = S::Block(1);
                    code.push_str("  ");
                    nocom.push_str("  ");
                    step = 2;
                } else if c == '"' {
                    s = S::Str;
                    code.push(c);
                    nocom.push(c);
                } else if raw_prefix && chars.get(i + 1 + hashes) == Some(&'"') {
                    for &d in &chars[i..i + 2 + hashes] {
                        code.push(d);
                        nocom.push(d);
                    }
                    s = S::Raw(hashes);
                    step = 2 + hashes;
                } else if c == '\'' {
                    // A char literal ('x', '\n', '\u{1F600}'), else a lifetime.
                    let len = if next == Some('\\') {
                        chars[(i + 3).min(chars.len())..]
                            .iter()
                            .take(10)
                            .position(|&x| x == '\'')
                            .map(|p| p + 4)
                    } else if next.is_some_and(|n| n != '\n') && chars.get(i + 2) == Some(&'\'') {
                        Some(3)
                    } else {
                        None
                    };
                    match len {
                        Some(n) => {
                            code.push('\'');
                            nocom.push('\'');
                            for &d in &chars[i + 1..i + n - 1] {
                                blank(&mut code, d);
                                nocom.push(d);
                            }
                            code.push('\'');
                            nocom.push('\'');
                            step = n;
                        }
                        None => {
                            code.push(c);
                            nocom.push(c);
                        }
                    }
                } else {
                    code.push(c);
                    nocom.push(c);
                }
            }
            S::Line => {
                blank(&mut code, c);
                blank(&mut nocom, c);
            }
            S::Block(d) => {
                if (c == '*' && next == Some('/')) || (c == '/' && next == Some('*')) {
                    s = match (c, d) {
                        ('*', 1) => S::Code,
                        ('*', _) => S::Block(d - 1),
                        _ => S::Block(d + 1),
                    };
                    code.push_str("  ");
                    nocom.push_str("  ");
                    step = 2;
                } else {
                    blank(&mut code, c);
                    blank(&mut nocom, c);
                }
            }
            S::Str => {
                blank(&mut code, c);
                nocom.push(c);
                if c == '\\' && next.is_some_and(|n| n != '\n') {
                    let n = next.unwrap_or(' ');
                    blank(&mut code, n);
                    nocom.push(n);
                    step = 2;
                } else if c == '"' {
                    code.pop();
                    code.push('"');
                    s = S::Code;
                }
            }
            S::Raw(h) => {
                let closes =
                    c == '"' && chars.len() > i + h && chars[i + 1..=i + h].iter().all(|&x| x == '#');
                if closes {
                    for &d in &chars[i..=i + h] {
                        code.push(d);
                        nocom.push(d);
                    }
                    s = S::Code;
                    step = 1 + h;
                } else {
                    blank(&mut code, c);
                    nocom.push(c);
                }
            }
        }
        i += step;
    }
    let split = |s: &str| s.split('\n').map(String::from).collect::<Vec<_>>();
    Lines {
        raw: split(text),
        code: split(&code),
        nocom: split(&nocom),
        clean,
    }
}

pub(crate) fn doc_line(after_slashes: &str) -> String {
    after_slashes
        .strip_prefix(' ')
        .unwrap_or(after_slashes)
        .trim_end()
        .to_string()
}

/// The text of a `///` line, if it is one.
pub(crate) fn doc_of(l: &Lines, line: usize) -> Option<String> {
    let t = l.raw[line].trim_start();
    let d = t.strip_prefix("///").filter(|d| !d.starts_with('/'))?;
    l.clean[line].then(|| doc_line(d))
}

/// Doc comment lines joined into one line (paragraph breaks too).
pub(crate) fn join_docs(docs: &[String]) -> String {
    docs.iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits at `sep` outside brackets and string literals.
pub(crate) fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut in_str, mut esc) = (Vec::new(), String::new(), 0i32, false, false);
    let mut prev = ' ';
    for c in s.chars() {
        if in_str {
            in_str = esc || c != '"';
            esc = !esc && c == '\\';
        } else {
            match c {
                '"' => in_str = true,
                '(' | '[' | '{' | '<' => depth += 1,
                '>' if prev == '-' || prev == '=' => {}
                ')' | ']' | '}' | '>' => depth -= 1,
                _ if c == sep && depth == 0 => {
                    out.push(std::mem::take(&mut cur));
                    prev = c;
                    continue;
                }
                _ => {}
            }
        }
        cur.push(c);
        prev = c;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

pub(crate) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Items: what one file declares.
