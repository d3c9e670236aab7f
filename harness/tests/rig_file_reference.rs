//! The rig file reference, `docs/rig-file.md`, generated from the schema's own doc comments
//! so that it cannot drift: the serde types that read `rigs/*.toml` (from `RigFile`) and
//! `plugs/*.toml` (from the plug's declaration) are read from their source text by a small
//! line-based parser (no syn, no new dependencies) and rendered as one section per TOML
//! table. `cargo test` fails while the file and the rendering differ; regenerate it with
//!
//!     PLUGRIG_BLESS=1 cargo test -p plugrig --test rig_file_reference
//!
//! What the parser reads: `#[derive(Deserialize)]` structs (named fields; a newtype reads as
//! its field) and enums (internally tagged, `tag = "kind"`; unit variants only, as strings),
//! their `///` doc comments, and the serde attributes `default`, `default = "f"`, `rename`,
//! `rename_all`, `alias`, `tag`, `skip`, `skip_deserializing`, `deny_unknown_fields`, `from`
//! and `try_from`. Types are found across files and crates through `mod` paths, `use`
//! statements (re-exports too) and the path dependencies in Cargo.toml; a default function's
//! value is read from its body when that is a literal (also through `.into()`, `X::new(..)`,
//! `X::from(..)`, a const, or another such function); other bodies are shown as Rust. A type
//! with a hand-written `Deserialize` is shown as the type its impl reads first
//! (`String::deserialize`). Anything else (`flatten`, `untagged`, adjacent tagging,
//! `deserialize_with`/`with`, externally tagged enums with data, tuples, generic types) is
//! refused by name rather than guessed at.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

type Res<T> = Result<T, String>;

/// The command that writes `docs/rig-file.md`.
const BLESS: &str = "PLUGRIG_BLESS=1 cargo test -p plugrig --test rig_file_reference";
const OUTPUT: &str = "docs/rig-file.md";

/// A file kind and the source file whose `toml::from_str` says which type reads it.
struct Root {
    file: &'static str,
    title: &'static str,
    /// The directory of the shipped files of this kind.
    dir: &'static str,
    anchor: &'static str,
}

const ROOTS: &[Root] = &[
    Root {
        file: "harness/src/rig/mod.rs",
        title: "Rig file",
        dir: "rigs",
        anchor: "rig-file",
    },
    Root {
        file: "harness/src/rig/declaration.rs",
        title: "Plug declaration",
        dir: "plugs",
        anchor: "plug-declaration",
    },
];

macro_rules! re {
    ($p:expr) => {{
        static R: OnceLock<Regex> = OnceLock::new();
        R.get_or_init(|| Regex::new($p).expect("a valid regex"))
    }};
}

fn workspace() -> PathBuf {
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
struct Lines {
    raw: Vec<String>,
    code: Vec<String>,
    nocom: Vec<String>,
    clean: Vec<bool>,
}

fn scan(text: &str) -> Lines {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        Code,
        Line,
        Block(u32),
        Str,
        Raw(usize),
    }
    fn blank(out: &mut String, c: char) {
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

fn doc_line(after_slashes: &str) -> String {
    after_slashes
        .strip_prefix(' ')
        .unwrap_or(after_slashes)
        .trim_end()
        .to_string()
}

/// The text of a `///` line, if it is one.
fn doc_of(l: &Lines, line: usize) -> Option<String> {
    let t = l.raw[line].trim_start();
    let d = t.strip_prefix("///").filter(|d| !d.starts_with('/'))?;
    l.clean[line].then(|| doc_line(d))
}

/// Doc comment lines joined into one line (paragraph breaks too).
fn join_docs(docs: &[String]) -> String {
    docs.iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits at `sep` outside brackets and string literals.
fn split_top(s: &str, sep: char) -> Vec<String> {
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

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Items: what one file declares.

#[derive(Debug, Default, Clone, PartialEq)]
struct Serde {
    /// `Some(None)`: `#[serde(default)]`; `Some(Some(f))`: `#[serde(default = "f")]`.
    default: Option<Option<String>>,
    rename: Option<String>,
    rename_all: Option<String>,
    tag: Option<String>,
    deny_unknown_fields: bool,
    skip: bool,
    aliases: Vec<String>,
    /// `from` / `try_from`: read as this type, then converted.
    from: Option<String>,
    /// Attributes this generator cannot render (refused when the item is used).
    unsupported: Vec<String>,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

fn serde_of(attrs: &[String]) -> Serde {
    let mut s = Serde::default();
    for a in attrs {
        let compact: String = a.chars().filter(|c| !c.is_whitespace()).collect();
        if !compact.starts_with("#[serde(") {
            continue;
        }
        let a = a.trim();
        let Some(inner) = a
            .find('(')
            .map(|p| &a[p + 1..])
            .and_then(|i| i.trim_end().strip_suffix(']'))
            .and_then(|i| i.trim_end().strip_suffix(')'))
        else {
            s.unsupported.push(a.to_string());
            continue;
        };
        for part in split_top(inner, ',') {
            let part = part.trim();
            let paren = part.find('(').filter(|&p| part.find('=').is_none_or(|e| p < e));
            let (key, value) = match (paren, part.split_once('=')) {
                // rename(deserialize = "x"): what reading uses.
                (Some(p), _) => {
                    let key = part[..p].trim();
                    let inner = part[p + 1..].trim_end_matches(')');
                    let de = split_top(inner, ',').into_iter().find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        (k.trim() == "deserialize").then(|| unquote(v))
                    });
                    match de {
                        Some(v) => (key, Some(v)),
                        None => continue,
                    }
                }
                (None, Some((k, v))) => (k.trim(), Some(unquote(v))),
                (None, None) => (part, None),
            };
            match (key, value) {
                ("default", v) => s.default = Some(v),
                ("rename", Some(v)) => s.rename = Some(v),
                ("rename_all", Some(v)) => s.rename_all = Some(v),
                ("tag", Some(v)) => s.tag = Some(v),
                ("alias", Some(v)) => s.aliases.push(v),
                ("deny_unknown_fields", None) => s.deny_unknown_fields = true,
                ("skip" | "skip_deserializing", None) => s.skip = true,
                ("from" | "try_from", Some(v)) => s.from = Some(v),
                (
                    "skip_serializing"
                    | "skip_serializing_if"
                    | "serialize_with"
                    | "bound"
                    | "borrow"
                    | "expecting"
                    | "crate"
                    | "into",
                    _,
                ) => {}
                _ => s.unsupported.push(part.to_string()),
            }
        }
    }
    s
}

fn derives(attrs: &[String]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|a| {
            let a = a.trim().strip_prefix("#[")?.trim_start();
            let list = a.strip_prefix("derive")?.trim_start().strip_prefix('(')?;
            Some(
                list.trim_end_matches([']', ')', ' '])
                    .split(',')
                    .map(|d| d.rsplit("::").next().unwrap_or(d).trim().to_string())
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    ty: String,
    docs: Vec<String>,
    serde: Serde,
}

#[derive(Debug, Clone)]
enum Shape {
    Unit,
    /// `Name(Type)`, or a tuple struct's types.
    Tuple(Vec<String>),
    Named(Vec<Field>),
}

#[derive(Debug, Clone)]
struct Variant {
    name: String,
    docs: Vec<String>,
    serde: Serde,
    shape: Shape,
}

#[derive(Debug, Clone)]
enum Kind {
    Struct(Shape),
    Enum(Vec<Variant>),
}

#[derive(Debug, Clone)]
struct Item {
    name: String,
    docs: Vec<String>,
    serde: Serde,
    derives: Vec<String>,
    generic: bool,
    kind: Kind,
}

/// What one source file declares, as far as the reference needs it.
#[derive(Default)]
struct Parsed {
    module_docs: Vec<String>,
    items: Vec<Item>,
    /// Free functions: name → body (comments removed).
    fns: HashMap<String, String>,
    /// Constants: name → expression.
    consts: HashMap<String, String>,
    /// Names in scope through `use`: name → path.
    uses: Vec<(String, String)>,
    /// Types with a hand-written `Deserialize`: name → the type the impl reads first.
    custom: HashMap<String, String>,
    /// The types this file's code parses TOML into (`let x: T = toml::from_str(..)`).
    roots: Vec<String>,
}

/// A piece of an item's body: a doc line, an attribute, or a character of code.
enum Tok {
    Doc(String),
    Attr(String),
    Ch(char),
}

/// The tokens between `from` and `to`, (line, byte column), exclusive.
fn tokens(l: &Lines, from: (usize, usize), to: (usize, usize)) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut attr: Option<(String, i32)> = None;
    for li in from.0..=to.0 {
        let a = if li == from.0 { from.1 } else { 0 };
        let b = if li == to.0 { to.1 } else { l.code[li].len() };
        if attr.is_none() && l.raw[li][..a].trim().is_empty() {
            if let Some(d) = doc_of(l, li) {
                out.push(Tok::Doc(d));
                continue;
            }
        }
        let code = &l.code[li][a..b];
        let nocom = &l.nocom[li][a..b];
        let mut start = 0;
        for (off, ch) in code.char_indices() {
            match attr.as_mut() {
                Some((text, depth)) => {
                    match ch {
                        '[' => *depth += 1,
                        ']' => *depth -= 1,
                        _ => {}
                    }
                    if *depth == 0 {
                        text.push_str(&nocom[start..=off]);
                        out.push(Tok::Attr(std::mem::take(text)));
                        attr = None;
                    }
                }
                None if ch == '#' && code[off + 1..].trim_start().starts_with(['[', '!']) => {
                    attr = Some((String::new(), 0));
                    start = off;
                }
                None => out.push(Tok::Ch(ch)),
            }
        }
        match attr.as_mut() {
            Some((text, _)) => {
                text.push_str(&nocom[start..]);
                text.push(' ');
            }
            None => out.push(Tok::Ch('\n')),
        }
    }
    out
}

/// A member of a body: a field or a variant, with its docs, attributes and code, and the
/// entries of its own `{ ... }` (a struct variant's fields).
#[derive(Default)]
struct Entry {
    docs: Vec<String>,
    attrs: Vec<String>,
    code: String,
    inner: Option<Vec<Entry>>,
}

fn entries(toks: &[Tok], i: &mut usize, nested: bool) -> Res<Vec<Entry>> {
    fn finish(out: &mut Vec<Entry>, cur: &mut Entry) {
        let mut e = std::mem::take(cur);
        e.code = collapse(&e.code);
        if !e.code.is_empty() || e.inner.is_some() {
            out.push(e);
        }
    }
    let (mut out, mut cur, mut depth, mut prev) = (Vec::new(), Entry::default(), 0i32, ' ');
    while *i < toks.len() {
        let t = &toks[*i];
        *i += 1;
        match t {
            Tok::Doc(d) if cur.code.trim().is_empty() => cur.docs.push(d.clone()),
            Tok::Doc(_) => {}
            Tok::Attr(a) => cur.attrs.push(a.clone()),
            Tok::Ch('{') if depth == 0 => cur.inner = Some(entries(toks, i, true)?),
            Tok::Ch('}') if depth == 0 && nested => {
                finish(&mut out, &mut cur);
                return Ok(out);
            }
            Tok::Ch(',') if depth == 0 => finish(&mut out, &mut cur),
            Tok::Ch(c) => {
                match c {
                    '(' | '[' | '<' | '{' => depth += 1,
                    '>' if prev == '-' || prev == '=' => {}
                    ')' | ']' | '>' | '}' => depth -= 1,
                    _ => {}
                }
                if !c.is_whitespace() {
                    prev = *c;
                }
                cur.code.push(*c);
            }
        }
    }
    if nested {
        return Err("a `{` is never closed".into());
    }
    finish(&mut out, &mut cur);
    Ok(out)
}

fn field_of(e: &Entry) -> Res<Field> {
    let c = re!(r"^(?:pub(?:\s*\([^)]*\))?\s+)?(?:r#)?(\w+)\s*:\s*(.+)$")
        .captures(&e.code)
        .ok_or_else(|| format!("cannot read the field `{}`", e.code))?;
    Ok(Field {
        name: c[1].to_string(),
        ty: c[2].trim().to_string(),
        docs: e.docs.clone(),
        serde: serde_of(&e.attrs),
    })
}

fn tuple_types(code: &str) -> Vec<String> {
    split_top(code, ',')
        .iter()
        .map(|t| {
            re!(r"^\s*pub(?:\s*\([^)]*\))?\s+")
                .replace(t, "")
                .trim()
                .to_string()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn variant_of(e: &Entry) -> Res<Variant> {
    let c = re!(r"^(\w+)\s*(?:\((.*)\))?\s*(?:=\s*.+)?$")
        .captures(&e.code)
        .ok_or_else(|| format!("cannot read the variant `{}`", e.code))?;
    let shape = match (&e.inner, c.get(2)) {
        (Some(fields), _) => Shape::Named(fields.iter().map(field_of).collect::<Res<_>>()?),
        (None, Some(t)) => Shape::Tuple(tuple_types(t.as_str())),
        (None, None) => Shape::Unit,
    };
    Ok(Variant {
        name: c[1].to_string(),
        docs: e.docs.clone(),
        serde: serde_of(&e.attrs),
        shape,
    })
}

/// The line after the statement or block that starts at `i`.
fn statement_end(l: &Lines, i: usize) -> usize {
    let mut depth = 0i32;
    let mut j = i;
    while j < l.code.len() {
        for ch in l.code[j].chars() {
            match ch {
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => depth -= 1,
                _ => {}
            }
        }
        j += 1;
        let last = l.code[j - 1].trim_end();
        if depth <= 0 && (last.ends_with(';') || last.ends_with('}')) {
            break;
        }
    }
    j
}

/// The (line, column) just inside the first of `openers` at or after `(line, col)`, and
/// just before its matching closer; `None` if a `;` outside brackets comes first (`[f64; 2]`
/// in a signature does not count).
fn enclosed(
    l: &Lines,
    line: usize,
    col: usize,
    openers: &[char],
) -> Option<((usize, usize), (usize, usize))> {
    let mut depth = 0i32;
    let mut start = None;
    for li in line..l.code.len() {
        let from = if li == line { col } else { 0 };
        for (off, ch) in l.code[li][from..].char_indices() {
            let at = (li, from + off);
            match ch {
                ';' if start.is_none() && depth == 0 => return None,
                c if start.is_none() && depth == 0 && openers.contains(&c) => {
                    start = Some((at.0, at.1 + 1));
                    depth = 1;
                }
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => {
                    depth -= 1;
                    if depth == 0 && start.is_some() {
                        return start.map(|s| (s, at));
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// The text between two positions, from `nocom` (strings kept, comments gone).
fn text_between(l: &Lines, from: (usize, usize), to: (usize, usize)) -> String {
    let mut s = String::new();
    for li in from.0..=to.0 {
        let a = if li == from.0 { from.1 } else { 0 };
        let b = if li == to.0 { to.1 } else { l.nocom[li].len() };
        s.push_str(&l.nocom[li][a..b]);
        s.push('\n');
    }
    s
}

/// `use a::{b, c::D as E, self};` as (name in scope, path) pairs.
fn expand_use(prefix: &str, tree: &str, out: &mut Vec<(String, String)>) {
    let tree = tree.trim();
    if let Some(p) = tree.find('{') {
        let head = format!("{prefix}{}", &tree[..p]);
        let inner = tree[p + 1..].trim_end().trim_end_matches('}');
        for part in split_top(inner, ',') {
            let part = part.trim();
            if part == "self" {
                let path = head.trim_end_matches("::").to_string();
                let name = path.rsplit("::").next().unwrap_or_default().to_string();
                out.push((name, path));
            } else {
                expand_use(&head, part, out);
            }
        }
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((p, a)) => (p.trim(), a.trim()),
        None => (tree, tree.rsplit("::").next().unwrap_or(tree).trim()),
    };
    if alias != "*" && alias != "_" {
        out.push((alias.to_string(), format!("{prefix}{path}")));
    }
}

fn parse_file(text: &str) -> Res<Parsed> {
    let l = scan(text);
    let mut p = Parsed::default();
    let (mut docs, mut attrs) = (Vec::new(), Vec::<String>::new());
    let item = re!(r"^(?:pub(?:\s*\([^)]*\))?\s+)?(struct|enum)\s+(\w+)\s*(<)?");
    let func = re!(r"^(?:pub(?:\s*\([^)]*\))?\s+)?(?:const\s+)?fn\s+(\w+)\s*[(<]");
    let konst = re!(r"^(?:pub(?:\s*\([^)]*\))?\s+)?const\s+(\w+)\s*:");
    let using = re!(r"^(?:pub(?:\s*\([^)]*\))?\s+)?use\s+");
    let de_impl = re!(r"^impl\s*<\s*'de\s*>\s*(?:serde::)?Deserialize\s*<\s*'de\s*>\s+for\s+(\w+)");
    let reads = re!(r"([\w:]+)\s*::\s*deserialize\s*\(");
    let mut seen_code = false;
    let mut i = 0;
    while i < l.raw.len() {
        let raw = l.raw[i].trim_start();
        let code = l.code[i].trim();
        if !l.clean[i] {
            i += 1;
            continue;
        }
        if let Some(d) = raw.strip_prefix("//!") {
            if !seen_code {
                p.module_docs.push(doc_line(d));
            }
            i += 1;
            continue;
        }
        if let Some(d) = doc_of(&l, i) {
            docs.push(d);
            i += 1;
            continue;
        }
        if code.starts_with("#[") || code.starts_with("#![") {
            let end = enclosed(&l, i, l.code[i].find('#').unwrap_or(0), &['['])
                .ok_or_else(|| format!("line {}: an attribute is never closed", i + 1))?;
            let text = collapse(&text_between(&l, (i, 0), (end.1 .0, end.1 .1 + 1)));
            if !code.starts_with("#!") {
                attrs.push(text);
            }
            i = end.1 .0 + 1;
            continue;
        }
        if code.is_empty() {
            i += 1;
            continue;
        }
        seen_code = true;
        let end = statement_end(&l, i);
        let whole = text_between(&l, (i, 0), (end - 1, l.nocom[end - 1].len()));
        if let Some(c) = item.captures(code) {
            let name = c[2].to_string();
            let col = l.code[i].find(&c[0]).unwrap_or(0) + c[0].len();
            let at = |e: String| format!("line {} (`{name}`): {e}", i + 1);
            let body = enclosed(&l, i, col, &['{', '(']);
            let kind = match (&c[1], body) {
                ("struct", None) => Kind::Struct(Shape::Unit),
                (k, Some((from, to))) => {
                    let toks = tokens(&l, from, to);
                    let tuple = l.code[from.0][..from.1].ends_with('(');
                    let es = entries(&toks, &mut 0, false).map_err(&at)?;
                    match (k, tuple) {
                        ("struct", true) => Kind::Struct(Shape::Tuple(
                            es.iter().flat_map(|e| tuple_types(&e.code)).collect(),
                        )),
                        ("struct", false) => Kind::Struct(Shape::Named(
                            es.iter().map(field_of).collect::<Res<_>>().map_err(&at)?,
                        )),
                        _ => Kind::Enum(es.iter().map(variant_of).collect::<Res<_>>().map_err(&at)?),
                    }
                }
                _ => return Err(format!("line {}: cannot read the body of `{name}`", i + 1)),
            };
            p.items.push(Item {
                name,
                docs: std::mem::take(&mut docs),
                serde: serde_of(&attrs),
                derives: derives(&attrs),
                generic: c.get(3).is_some(),
                kind,
            });
        } else if let Some(c) = func.captures(code) {
            if let Some((from, to)) = enclosed(&l, i, 0, &['{']) {
                p.fns
                    .insert(c[1].to_string(), collapse(&text_between(&l, from, to)));
            }
        } else if let Some(c) = konst.captures(code) {
            if let Some((_, e)) = whole.split_once('=') {
                let e = e.trim().trim_end_matches(';');
                p.consts.insert(c[1].to_string(), collapse(e));
            }
        } else if using.is_match(code) {
            let tree = using
                .replace(&collapse(&whole), "")
                .trim()
                .trim_end_matches(';')
                .to_string();
            expand_use("", &tree, &mut p.uses);
        } else if let Some(c) = de_impl.captures(code) {
            if let Some(t) = reads.captures(&whole) {
                p.custom.insert(c[1].to_string(), t[1].to_string());
            }
        }
        docs.clear();
        attrs.clear();
        i = end;
    }
    let code = l.code.join("\n");
    for c in re!(r"let\s+\w+\s*:\s*([\w:]+)\s*=\s*toml::from_str\b|toml::from_str::<\s*([\w:]+)\s*>")
        .captures_iter(&code)
    {
        let t = c
            .get(1)
            .or(c.get(2))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        if !t.starts_with("toml::") && !p.roots.contains(&t) {
            p.roots.push(t);
        }
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------
// The schema: types resolved across files into TOML shapes.

type Key = (PathBuf, String);

#[derive(Debug, Clone)]
enum Ty {
    /// string, integer, number, boolean, path, ...
    Scalar(String),
    Opt(Box<Ty>),
    Array(Box<Ty>, Option<String>),
    /// A table whose keys are free: the values' type.
    Map(Box<Ty>),
    /// A struct or an internally tagged enum: a table described by its own section.
    Table(Key),
    /// A type with a hand-written (or `from`) Deserialize, read as the simpler type.
    Custom(Key, Box<Ty>),
    /// An enum of unit variants: one of these strings.
    OneOf(Vec<String>),
    Any,
}

struct TypeExpr {
    path: Vec<String>,
    args: Vec<TypeExpr>,
    array: Option<(Box<TypeExpr>, String)>,
}

fn parse_type(s: &str) -> Res<TypeExpr> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let parts = split_top(inner, ';');
        if let [elem, n] = parts.as_slice() {
            return Ok(TypeExpr {
                path: vec![],
                args: vec![],
                array: Some((Box::new(parse_type(elem)?), n.trim().to_string())),
            });
        }
        return Err(format!("cannot read the type `{s}`"));
    }
    if s.starts_with('(') || s.starts_with('&') || s.starts_with("fn") || s.starts_with("dyn") {
        return Err(format!(
            "the type `{s}` cannot be read from TOML by this generator"
        ));
    }
    let (head, args) = match s.find('<') {
        Some(p) => {
            let inner = s[p + 1..]
                .strip_suffix('>')
                .ok_or(format!("cannot read the type `{s}`"))?;
            (&s[..p], split_top(inner, ','))
        }
        None => (s, vec![]),
    };
    Ok(TypeExpr {
        path: head
            .split("::")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        args: args.iter().map(|a| parse_type(a)).collect::<Res<_>>()?,
        array: None,
    })
}

fn scalar(name: &str) -> Option<&'static str> {
    Some(match name {
        "String" | "str" | "char" => "string",
        "bool" => "boolean",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
            "integer"
        }
        "f32" | "f64" => "number",
        "PathBuf" | "Path" => "path",
        "IpAddr" | "Ipv4Addr" | "Ipv6Addr" => "string (IP address)",
        "SocketAddr" => "string (IP:port)",
        _ => return None,
    })
}

/// serde's `rename_all` rules; `variant`: a variant name (PascalCase) rather than a field.
fn rename_rule(rule: &str, name: &str, variant: bool) -> Res<String> {
    let words: Vec<String> = if variant {
        let mut w: Vec<String> = Vec::new();
        for c in name.chars() {
            match w.last_mut() {
                Some(last) if !c.is_uppercase() => last.push(c),
                _ => w.push(c.to_string()),
            }
        }
        w.iter().map(|w| w.to_lowercase()).collect()
    } else {
        name.split('_').map(str::to_string).collect()
    };
    let cap = |w: &String| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    Ok(match rule {
        "lowercase" if variant => name.to_lowercase(),
        "lowercase" => name.to_string(),
        "UPPERCASE" => name.to_uppercase(),
        "PascalCase" => words.iter().map(cap).collect(),
        "camelCase" => words
            .iter()
            .enumerate()
            .map(|(n, w)| if n == 0 { w.to_lowercase() } else { cap(w) })
            .collect(),
        "snake_case" => words.join("_"),
        "SCREAMING_SNAKE_CASE" => words.join("_").to_uppercase(),
        "kebab-case" => words.join("-"),
        "SCREAMING-KEBAB-CASE" => words.join("-").to_uppercase(),
        _ => return Err(format!("unknown rename_all rule {rule:?}")),
    })
}

/// A default's value: as TOML, or (when its function does more than return a literal)
/// the Rust expression.
enum Val {
    Toml(String),
    Rust(String),
}

fn toml_string(content: &str, raw: bool) -> String {
    if !raw {
        return format!("\"{content}\"");
    }
    if !content.contains(['\\', '"']) {
        format!("\"{content}\"")
    } else if !content.contains(['\'', '\n']) {
        format!("'{content}'")
    } else {
        format!("{content:?}")
    }
}

/// A string literal's content and whether it was raw.
fn string_literal(e: &str) -> Option<(String, bool)> {
    if let Some(c) = re!(r#"^"((?:[^"\\]|\\.)*)"$"#).captures(e) {
        return Some((c[1].to_string(), false));
    }
    let rest = e.strip_prefix('r')?;
    let hashes = rest.chars().take_while(|&c| c == '#').count();
    let fence = "#".repeat(hashes);
    let inner = rest[hashes..]
        .strip_prefix('"')?
        .strip_suffix(&format!("\"{fence}"))?;
    Some((inner.to_string(), true))
}

/// One TOML table's keys.
struct TableModel {
    docs: Vec<String>,
    deny: bool,
    fields: Vec<FieldModel>,
}

struct FieldModel {
    key: String,
    aliases: Vec<String>,
    ty: Ty,
    docs: Vec<String>,
    /// "required", "optional" or "default `v`".
    default: String,
}

/// One kind of an internally tagged enum.
struct VariantModel {
    value: String,
    aliases: Vec<String>,
    docs: Vec<String>,
    table: Option<TableModel>,
}

struct Schema {
    root: PathBuf,
    /// Source given in place of a file (the parser's own test).
    texts: HashMap<PathBuf, String>,
    files: BTreeMap<PathBuf, Parsed>,
    crates: HashMap<PathBuf, HashMap<String, PathBuf>>,
}

impl Schema {
    fn new() -> Schema {
        Schema {
            root: workspace(),
            texts: HashMap::new(),
            files: BTreeMap::new(),
            crates: HashMap::new(),
        }
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).display().to_string()
    }

    fn file(&mut self, path: &Path) -> Res<&Parsed> {
        if !self.files.contains_key(path) {
            let text = match self.texts.get(path) {
                Some(t) => t.clone(),
                None => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", self.rel(path)))?,
            };
            let parsed = parse_file(&text).map_err(|e| format!("{}: {e}", self.rel(path)))?;
            self.files.insert(path.to_path_buf(), parsed);
        }
        Ok(&self.files[path])
    }

    /// The `src` directory of `file`'s crate, and the crates its Cargo.toml names by path.
    fn crate_of(&mut self, file: &Path) -> Res<(PathBuf, HashMap<String, PathBuf>)> {
        let dir = file
            .ancestors()
            .skip(1)
            .find(|d| d.join("Cargo.toml").is_file() && file.starts_with(d.join("src")))
            .ok_or_else(|| format!("{}: not in a crate's src/", self.rel(file)))?
            .to_path_buf();
        if !self.crates.contains_key(&dir) {
            let manifest = dir.join("Cargo.toml");
            let text =
                std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
            let toml: toml::Table =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
            let mut externs = HashMap::new();
            for (name, dep) in toml
                .get("dependencies")
                .and_then(|d| d.as_table())
                .into_iter()
                .flatten()
            {
                if let Some(p) = dep.get("path").and_then(|p| p.as_str()) {
                    externs.insert(name.replace('-', "_"), dir.join(p).join("src"));
                }
            }
            self.crates.insert(dir.clone(), externs);
        }
        Ok((dir.join("src"), self.crates[&dir].clone()))
    }

    fn module_of(src: &Path, file: &Path) -> Vec<String> {
        let rel = file.strip_prefix(src).unwrap_or(file);
        let mut m: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        match m.last().map(String::as_str) {
            Some("mod.rs" | "lib.rs" | "main.rs") => {
                m.pop();
            }
            Some(last) => {
                let stem = last.trim_end_matches(".rs").to_string();
                m.pop();
                m.push(stem);
            }
            None => {}
        }
        m
    }

    fn module_file(&self, src: &Path, mods: &[String]) -> Res<PathBuf> {
        let candidates: Vec<PathBuf> = if mods.is_empty() {
            vec![src.join("lib.rs"), src.join("main.rs")]
        } else {
            let base = mods.iter().fold(src.to_path_buf(), |p, m| p.join(m));
            vec![base.with_extension("rs"), base.join("mod.rs")]
        };
        candidates
            .iter()
            .find(|c| self.texts.contains_key(*c) || c.is_file())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no source file for module `{}` in {}",
                    mods.join("::"),
                    self.rel(src)
                )
            })
    }

    /// The file that declares the last segment of `segs`, as written in `file`.
    fn resolve(&mut self, file: &Path, segs: &[String], hops: u32) -> Res<(PathBuf, String)> {
        if hops > 16 {
            return Err(format!("`{}`: too many `use` hops", segs.join("::")));
        }
        let (name, modpath) = segs.split_last().ok_or("an empty path")?;
        if modpath.is_empty() {
            return Ok((file.to_path_buf(), name.clone()));
        }
        let (src, externs) = self.crate_of(file)?;
        let here = Self::module_of(&src, file);
        let first = modpath[0].as_str();
        let (base, mut mods, rest) = match first {
            "crate" => (src, vec![], &modpath[1..]),
            "self" => (src, here, &modpath[1..]),
            "super" => {
                let n = modpath.iter().take_while(|s| *s == "super").count();
                let keep = here.len().checked_sub(n).ok_or("`super` above the crate")?;
                (src, here[..keep].to_vec(), &modpath[n..])
            }
            _ => {
                let used = self
                    .file(file)?
                    .uses
                    .iter()
                    .find(|(a, _)| a == first)
                    .map(|(_, p)| p.clone());
                if let Some(p) = used {
                    let mut full: Vec<String> = p.split("::").map(str::to_string).collect();
                    full.extend(segs[1..].iter().cloned());
                    return self.resolve(file, &full, hops + 1);
                }
                match externs.get(first) {
                    Some(dir) => (dir.clone(), vec![], &modpath[1..]),
                    None => (src, [here, vec![first.to_string()]].concat(), &modpath[1..]),
                }
            }
        };
        mods.extend(rest.iter().cloned());
        Ok((self.module_file(&base, &mods)?, name.clone()))
    }

    /// Finds what `has` accepts by the path `segs` from `file`, following re-exports.
    fn find(&mut self, file: &Path, segs: &[String], what: &str, has: fn(&Parsed, &str) -> bool) -> Res<Key> {
        let (mut f, mut name) = self.resolve(file, segs, 0)?;
        for _ in 0..16 {
            let p = self.file(&f)?;
            if has(p, &name) {
                return Ok((f, name));
            }
            let Some(path) = p.uses.iter().find(|(a, _)| *a == name).map(|(_, p)| p.clone()) else {
                break;
            };
            let segs: Vec<String> = path.split("::").map(str::to_string).collect();
            (f, name) = self.resolve(&f, &segs, 0)?;
        }
        Err(format!(
            "{what} `{}` (named in {}) not found",
            segs.join("::"),
            self.rel(file)
        ))
    }

    fn item(&mut self, key: &Key) -> Res<Item> {
        self.file(&key.0)?
            .items
            .iter()
            .find(|i| i.name == key.1)
            .cloned()
            .ok_or_else(|| format!("no struct or enum `{}`", key.1))
    }

    fn ty(&mut self, file: &Path, t: &TypeExpr) -> Res<Ty> {
        if let Some((elem, n)) = &t.array {
            return Ok(Ty::Array(Box::new(self.ty(file, elem)?), Some(n.clone())));
        }
        let last = t.path.last().map(String::as_str).unwrap_or_default();
        let arg = |n: usize| {
            t.args
                .get(n)
                .ok_or_else(|| format!("`{last}` without its type argument"))
        };
        match last {
            "Option" => return Ok(Ty::Opt(Box::new(self.ty(file, arg(0)?)?))),
            "Box" | "Arc" | "Rc" => return self.ty(file, arg(0)?),
            "Vec" | "VecDeque" | "BTreeSet" | "HashSet" => {
                return Ok(Ty::Array(Box::new(self.ty(file, arg(0)?)?), None))
            }
            "BTreeMap" | "HashMap" | "IndexMap" => return Ok(Ty::Map(Box::new(self.ty(file, arg(1)?)?))),
            "Value" if t.path.first().is_some_and(|f| f == "toml") => return Ok(Ty::Any),
            "Table" if t.path.first().is_some_and(|f| f == "toml") => return Ok(Ty::Map(Box::new(Ty::Any))),
            _ => {}
        }
        if let Some(s) = scalar(last) {
            return Ok(Ty::Scalar(s.into()));
        }
        let key = self.find(file, &t.path, "type", |p, n| p.items.iter().any(|i| i.name == n))?;
        let item = self.item(&key)?;
        let where_ = format!("`{}` ({})", key.1, self.rel(&key.0));
        let custom = self.file(&key.0)?.custom.get(&key.1).cloned();
        let reads_as = |s: &mut Schema, t: &str| -> Res<Ty> {
            let base = s.ty(&key.0, &parse_type(t)?)?;
            Ok(Ty::Custom(key.clone(), Box::new(base)))
        };
        if !item.derives.iter().any(|d| d == "Deserialize") {
            return match custom {
                Some(t) => reads_as(self, &t),
                None => Err(format!(
                    "{where_}: no derive(Deserialize) and no Deserialize impl this generator can read"
                )),
            };
        }
        if item.generic {
            return Err(format!("{where_}: generic types are not supported"));
        }
        if let Some(from) = &item.serde.from {
            return reads_as(self, from);
        }
        match &item.kind {
            Kind::Struct(Shape::Named(_)) => Ok(Ty::Table(key)),
            Kind::Struct(Shape::Tuple(ts)) if ts.len() == 1 => self.ty(&key.0, &parse_type(&ts[0])?),
            Kind::Enum(_) if item.serde.tag.is_some() => Ok(Ty::Table(key)),
            Kind::Enum(vs) if vs.iter().all(|v| matches!(v.shape, Shape::Unit)) => Ok(Ty::OneOf(
                vs.iter()
                    .filter(|v| !v.serde.skip)
                    .map(|v| self.variant_name(&item, v))
                    .collect::<Res<_>>()?,
            )),
            Kind::Enum(_) => Err(format!("{where_}: only internally tagged enums (`tag = \"...\"`) and enums of unit variants are supported")),
            Kind::Struct(_) => Err(format!("{where_}: a unit or tuple struct cannot be a TOML value")),
        }
    }

    fn variant_name(&self, enum_item: &Item, v: &Variant) -> Res<String> {
        match (&v.serde.rename, &enum_item.serde.rename_all) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(rule)) => rename_rule(rule, &v.name, true),
            (None, None) => Ok(v.name.clone()),
        }
    }

    fn refuse_unsupported(&self, what: &str, s: &Serde) -> Res<()> {
        match s.unsupported.as_slice() {
            [] => Ok(()),
            u => Err(format!(
                "{what}: serde attributes this generator cannot render: {}",
                u.join(", ")
            )),
        }
    }

    fn fields(
        &mut self,
        file: &Path,
        fields: &[Field],
        rule: Option<&str>,
        container_default: Option<bool>,
    ) -> Res<Vec<FieldModel>> {
        let mut out = Vec::new();
        for f in fields {
            let what = format!("field `{}` ({})", f.name, self.rel(file));
            self.refuse_unsupported(&what, &f.serde)?;
            if f.serde.skip {
                continue;
            }
            let key = match (&f.serde.rename, rule) {
                (Some(r), _) => r.clone(),
                (None, Some(rule)) => rename_rule(rule, &f.name, false)?,
                (None, None) => f.name.clone(),
            };
            let ty = self
                .ty(file, &parse_type(&f.ty).map_err(|e| format!("{what}: {e}"))?)
                .map_err(|e| format!("{what}: {e}"))?;
            let default = match (&f.serde.default, container_default) {
                (Some(Some(func)), _) => {
                    let segs: Vec<String> = func.split("::").map(str::to_string).collect();
                    let (ff, name) =
                        self.find(file, &segs, "default function", |p, n| p.fns.contains_key(n))?;
                    let body = self.file(&ff)?.fns[&name].clone();
                    match self.value(&ff, &body, 0)? {
                        Val::Toml(v) => format!("default `{v}`"),
                        Val::Rust(e) => format!("default: `{e}` (Rust)"),
                    }
                }
                (Some(None), _) | (None, Some(true)) => type_default(&ty),
                (None, Some(false)) => "optional".into(),
                (None, None) if matches!(ty, Ty::Opt(_)) => "optional".into(),
                (None, None) => "required".into(),
            };
            out.push(FieldModel {
                key,
                aliases: f.serde.aliases.clone(),
                ty,
                docs: f.docs.clone(),
                default,
            });
        }
        Ok(out)
    }

    /// A struct's table.
    fn table_model(&mut self, key: &Key) -> Res<TableModel> {
        let item = self.item(key)?;
        self.refuse_unsupported(&format!("`{}`", item.name), &item.serde)?;
        let Kind::Struct(Shape::Named(fields)) = &item.kind else {
            return Err(format!("`{}` is not a struct with named fields", item.name));
        };
        // `#[serde(default)]` on the struct: missing keys take its Default's values (the
        // fields' own defaults when Default is derived).
        let container_default = item
            .serde
            .default
            .is_some()
            .then(|| item.derives.iter().any(|d| d == "Default"));
        Ok(TableModel {
            docs: item.docs.clone(),
            deny: item.serde.deny_unknown_fields,
            fields: self.fields(
                &key.0,
                fields,
                item.serde.rename_all.as_deref(),
                container_default,
            )?,
        })
    }

    /// An internally tagged enum's tag and kinds.
    fn variants(&mut self, key: &Key) -> Res<(String, Vec<VariantModel>)> {
        let item = self.item(key)?;
        self.refuse_unsupported(&format!("`{}`", item.name), &item.serde)?;
        let (Kind::Enum(vs), Some(tag)) = (&item.kind, &item.serde.tag) else {
            return Err(format!("`{}` is not an internally tagged enum", item.name));
        };
        let mut out = Vec::new();
        for v in vs {
            let what = format!("`{}::{}`", item.name, v.name);
            self.refuse_unsupported(&what, &v.serde)?;
            if v.serde.skip {
                continue;
            }
            let table = match &v.shape {
                Shape::Unit => None,
                Shape::Named(fields) => Some(TableModel {
                    docs: vec![],
                    deny: item.serde.deny_unknown_fields,
                    fields: self.fields(&key.0, fields, v.serde.rename_all.as_deref(), None)?,
                }),
                Shape::Tuple(ts) if ts.len() == 1 => match self.ty(&key.0, &parse_type(&ts[0])?)? {
                    Ty::Table(k) if matches!(self.item(&k)?.kind, Kind::Struct(_)) => {
                        Some(self.table_model(&k)?)
                    }
                    _ => return Err(format!("{what}: a tagged newtype variant must hold a struct")),
                },
                Shape::Tuple(_) => return Err(format!("{what}: tuple variants cannot be tagged")),
            };
            out.push(VariantModel {
                value: self.variant_name(&item, v)?,
                aliases: v.serde.aliases.clone(),
                docs: v.docs.clone(),
                table,
            });
        }
        Ok((tag.clone(), out))
    }

    /// A default function's body (or a const, or a part of either) as a value.
    fn value(&mut self, file: &Path, expr: &str, depth: u32) -> Res<Val> {
        let e = collapse(expr.trim());
        let rust = Ok(Val::Rust(e.clone()));
        if depth > 8 || e.contains(';') || e.starts_with("let ") {
            return rust;
        }
        if e == "true" || e == "false" {
            return Ok(Val::Toml(e));
        }
        if let Some(c) =
            re!(r"^(-?[\d_]+(?:\.[\d_]+)?(?:[eE][+-]?\d+)?)_?(?:[ui](?:8|16|32|64|128|size)|f32|f64)?$")
                .captures(&e)
        {
            return Ok(Val::Toml(c[1].replace('_', "")));
        }
        if let Some((s, raw)) = string_literal(&e) {
            return Ok(Val::Toml(toml_string(&s, raw)));
        }
        let wrapped = re!(r"^(.+?)\.(?:into|to_string|to_owned)\(\)$")
            .captures(&e)
            .or_else(|| re!(r"^(?:[\w:]+::(?:new|from)|Some)\((.*)\)$").captures(&e))
            .map(|c| c[1].to_string());
        if let Some(inner) = wrapped {
            return self.value(file, &inner, depth + 1);
        }
        let list = e
            .strip_prefix("vec!")
            .unwrap_or(&e)
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .map(str::to_string);
        if let Some(list) = list {
            let mut vals = Vec::new();
            for part in split_top(&list, ',') {
                match self.value(file, &part, depth + 1)? {
                    Val::Toml(v) => vals.push(v),
                    Val::Rust(_) => return rust,
                }
            }
            return Ok(Val::Toml(format!("[{}]", vals.join(", "))));
        }
        if re!(r"^(?:\w+::)*[A-Z][A-Z0-9_]*$").is_match(&e) {
            let segs: Vec<String> = e.split("::").map(str::to_string).collect();
            if let Ok((f, name)) = self.find(file, &segs, "const", |p, n| p.consts.contains_key(n)) {
                let expr = self.file(&f)?.consts[&name].clone();
                return self.value(&f, &expr, depth + 1);
            }
        }
        if let Some(c) = re!(r"^((?:\w+::)*\w+)\(\)$").captures(&e) {
            let segs: Vec<String> = c[1].split("::").map(str::to_string).collect();
            if let Ok((f, name)) = self.find(file, &segs, "function", |p, n| p.fns.contains_key(n)) {
                let body = self.file(&f)?.fns[&name].clone();
                return self.value(&f, &body, depth + 1);
            }
        }
        rust
    }

    /// The type a root file reads its TOML into.
    fn root_ty(&mut self, file: &Path) -> Res<Ty> {
        let name = self.file(file)?.roots.first().cloned().ok_or_else(|| {
            format!(
                "{}: no `let x: Type = toml::from_str(..)` or `toml::from_str::<Type>` says which type reads the file",
                self.rel(file)
            )
        })?;
        self.ty(file, &parse_type(&name)?)
    }

    /// Checks `v` (a shipped file's TOML) against `ty`: keys the schema does not have go
    /// to `missing`, the keys it has to `keys`.
    fn covered(
        &mut self,
        ty: &Ty,
        v: &toml::Value,
        path: &str,
        missing: &mut Vec<String>,
        keys: &mut BTreeSet<String>,
    ) -> Res<()> {
        let at = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match (ty, v) {
            (Ty::Opt(t), _) => self.covered(t, v, path, missing, keys),
            (Ty::Array(t, _), toml::Value::Array(vs)) => {
                for v in vs {
                    self.covered(t, v, path, missing, keys)?;
                }
                Ok(())
            }
            (Ty::Map(t), toml::Value::Table(m)) => {
                for (k, v) in m {
                    self.covered(t, v, &at(k), missing, keys)?;
                }
                Ok(())
            }
            (Ty::Table(key), toml::Value::Table(m)) => {
                let is_enum = matches!(self.item(key)?.kind, Kind::Enum(_));
                let fields = if is_enum {
                    let (tag, vs) = self.variants(key)?;
                    let chosen = m.get(&tag).and_then(|t| t.as_str()).unwrap_or_default();
                    keys.insert(tag.clone());
                    let Some(var) = vs
                        .into_iter()
                        .find(|x| x.value == chosen || x.aliases.iter().any(|a| a == chosen))
                    else {
                        missing.push(format!("{} = {chosen:?}", at(&tag)));
                        return Ok(());
                    };
                    let mut fields = var.table.map(|t| t.fields).unwrap_or_default();
                    fields.push(FieldModel {
                        key: tag,
                        aliases: vec![],
                        ty: Ty::Any,
                        docs: vec![],
                        default: String::new(),
                    });
                    fields
                } else {
                    self.table_model(key)?.fields
                };
                for (k, v) in m {
                    match fields.iter().find(|f| f.key == *k || f.aliases.contains(k)) {
                        Some(f) => {
                            keys.insert(k.clone());
                            self.covered(&f.ty, v, &at(k), missing, keys)?;
                        }
                        None => missing.push(at(k)),
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn type_default(ty: &Ty) -> String {
    let v = match ty {
        Ty::Scalar(s) if s == "boolean" => "false",
        Ty::Scalar(s) if s == "integer" => "0",
        Ty::Scalar(s) if s == "number" => "0.0",
        Ty::Scalar(s) if s == "string" => "\"\"",
        Ty::Array(_, None) => "[]",
        Ty::Map(_) => "{}",
        _ => return "optional".into(),
    };
    format!("default `{v}`")
}

// ---------------------------------------------------------------------------------------
// Rendering.

/// Where a table sits in the file: `dut.power_relay`, its heading, and under which kind.
#[derive(Clone)]
struct TPath {
    dotted: String,
    title: String,
    note: Option<String>,
}

impl TPath {
    fn key(&self, key: &str) -> TPath {
        let dotted = if self.dotted.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.dotted)
        };
        TPath {
            title: format!("`[{dotted}]`"),
            dotted,
            note: self.note.clone(),
        }
    }
}

struct Section {
    level: usize,
    anchor: String,
    /// `None`: the headings of every key that reaches this type (`titles`).
    title: Option<String>,
    text: Vec<String>,
}

struct Render<'a> {
    s: &'a mut Schema,
    prefix: String,
    sections: Vec<Section>,
    placed: HashMap<Key, String>,
    titles: HashMap<String, Vec<String>>,
    anchors: BTreeSet<String>,
    /// Value types (hand-written Deserialize): anchor → (name, docs).
    values: BTreeMap<String, (String, String)>,
    /// Tables that accept unknown keys.
    open: Vec<String>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn plural(t: &str) -> String {
    match t.find([' ', ':']) {
        Some(p) => format!("{}s{}", &t[..p], &t[p..]),
        None => format!("{t}s"),
    }
}

impl Render<'_> {
    fn anchor(&mut self, base: &str) -> String {
        let slug: String = base
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() || c == '_' { c } else { '-' })
            .collect();
        let slug = slug
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let mut a = format!("{}-{slug}", self.prefix);
        let mut n = 2;
        while !self.anchors.insert(a.clone()) {
            a = format!("{}-{slug}-{n}", self.prefix);
            n += 1;
        }
        a
    }

    /// The section of `key` reached at `p` (made later, after the current one).
    fn place(&mut self, key: &Key, p: &TPath, children: &mut Vec<(Key, TPath)>) -> String {
        if let Some(a) = self.placed.get(key).cloned() {
            self.titles.entry(a.clone()).or_default().push(p.title.clone());
            return a;
        }
        let a = self.anchor(&p.dotted);
        self.placed.insert(key.clone(), a.clone());
        self.titles.insert(a.clone(), vec![p.title.clone()]);
        children.push((key.clone(), p.clone()));
        a
    }

    fn ty_text(&mut self, ty: &Ty, p: &TPath, children: &mut Vec<(Key, TPath)>) -> Res<String> {
        Ok(match ty {
            Ty::Scalar(s) => s.clone(),
            Ty::Any => "any value".into(),
            Ty::Opt(t) => self.ty_text(t, p, children)?,
            Ty::Array(t, n) => {
                let inner = TPath {
                    title: format!("`[[{}]]`", p.dotted),
                    ..p.clone()
                };
                let n = n.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
                format!("array of {n}{}", plural(&self.ty_text(t, &inner, children)?))
            }
            Ty::Map(t) => {
                let inner = p.key("NAME");
                format!(
                    "table of {} (any keys)",
                    plural(&self.ty_text(t, &inner, children)?)
                )
            }
            Ty::Table(k) => {
                let a = self.place(k, p, children);
                format!("table: [{}](#{a})", p.title)
            }
            Ty::Custom(k, base) => {
                let a = format!("value-{}", k.1.to_lowercase());
                if !self.values.contains_key(&a) {
                    let docs = join_docs(&self.s.item(k)?.docs);
                    self.values.insert(a.clone(), (k.1.clone(), docs));
                }
                format!("{} ([`{}`](#{a}))", self.ty_text(base, p, children)?, k.1)
            }
            Ty::OneOf(vs) => format!(
                "string: {}",
                vs.iter()
                    .map(|v| format!("`\"{v}\"`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    fn rows(
        &mut self,
        t: &TableModel,
        p: &TPath,
        children: &mut Vec<(Key, TPath)>,
        tag: Option<String>,
    ) -> Res<Vec<String>> {
        let mut out = vec![
            "| Key | Type | Required / default | Description |".to_string(),
            "|---|---|---|---|".to_string(),
        ];
        if let Some(tag) = tag {
            out.push(tag);
        }
        for f in &t.fields {
            let ty = self.ty_text(&f.ty, &p.key(&f.key), children)?;
            let aliases: String = f.aliases.iter().map(|a| format!(" (or `{a}`)")).collect();
            out.push(format!(
                "| `{}`{aliases} | {} | {} | {} |",
                f.key,
                cell(&ty),
                cell(&f.default),
                cell(&join_docs(&f.docs))
            ));
        }
        Ok(out)
    }

    fn intro(docs: &[&[String]], note: &Option<String>) -> Vec<String> {
        let mut out: Vec<String> = docs
            .iter()
            .map(|d| join_docs(d))
            .filter(|d| !d.is_empty())
            .collect();
        out.extend(note.iter().cloned());
        out
    }

    fn section(&mut self, key: &Key, p: &TPath, level: usize) -> Res<()> {
        let anchor = self.placed[key].clone();
        let mut children = Vec::new();
        if matches!(self.s.item(key)?.kind, Kind::Struct(_)) {
            let t = self.s.table_model(key)?;
            if !t.deny {
                self.open.push(p.title.clone());
            }
            let mut text = Self::intro(&[&t.docs[..]], &p.note);
            text.extend(self.rows(&t, p, &mut children, None)?);
            self.sections.push(Section {
                level,
                anchor,
                title: None,
                text,
            });
        } else {
            let docs = self.s.item(key)?.docs;
            let (tag, vs) = self.s.variants(key)?;
            let mut text = Self::intro(&[&docs[..]], &p.note);
            text.push(format!("One of these, chosen by `{tag}`:"));
            let mut kinds = Vec::new();
            for v in &vs {
                let a = self.anchor(&format!("{} {tag} {}", p.dotted, v.value));
                let docs = join_docs(&v.docs);
                let sep = if docs.is_empty() { "" } else { ": " };
                text.push(format!("- [`{tag} = \"{}\"`](#{a}){sep}{docs}", v.value));
                kinds.push(a);
            }
            self.sections.push(Section {
                level,
                anchor,
                title: None,
                text,
            });
            for (v, a) in vs.iter().zip(kinds) {
                let title = format!("{} with `{tag} = \"{}\"`", p.title, v.value);
                let inner = TPath {
                    note: Some(format!("In {title}.")),
                    ..p.clone()
                };
                let aliases: String = v.aliases.iter().map(|x| format!(", or `\"{x}\"`")).collect();
                let tag_row = format!("| `{tag}` | string | required | `\"{}\"`{aliases} |", v.value);
                let mut text = Self::intro(&[&v.docs[..]], &None);
                let mut kids = Vec::new();
                match &v.table {
                    Some(t) => {
                        if !t.deny {
                            self.open.push(title.clone());
                        }
                        text.extend(Self::intro(&[&t.docs[..]], &None));
                        text.extend(self.rows(t, &inner, &mut kids, Some(tag_row))?);
                    }
                    None => text.extend(self.rows(
                        &TableModel {
                            docs: vec![],
                            deny: true,
                            fields: vec![],
                        },
                        &inner,
                        &mut kids,
                        Some(tag_row),
                    )?),
                }
                self.sections.push(Section {
                    level: (level + 1).max(4),
                    anchor: a,
                    title: Some(title),
                    text,
                });
                for (k, kp) in kids {
                    self.section(&k, &kp, 4)?;
                }
            }
        }
        for (k, kp) in children {
            self.section(&k, &kp, if p.dotted.is_empty() { 3 } else { 4 })?;
        }
        Ok(())
    }
}

/// The whole reference.
fn render(s: &mut Schema, roots: &[Root]) -> Res<String> {
    let mut body = Vec::new();
    let mut contents = Vec::new();
    let mut values = BTreeMap::new();
    let mut open = Vec::new();
    for root in roots {
        let file = s.root.join(root.file);
        let ty = s.root_ty(&file)?;
        let Ty::Table(key) = ty else {
            return Err(format!("{}: the root type is not a struct", root.file));
        };
        let module_docs = s.file(&file)?.module_docs.clone();
        let mut r = Render {
            s,
            prefix: root.anchor.to_string(),
            sections: Vec::new(),
            placed: HashMap::new(),
            titles: HashMap::new(),
            anchors: BTreeSet::new(),
            values: std::mem::take(&mut values),
            open: Vec::new(),
        };
        r.anchors.insert(root.anchor.to_string());
        r.placed.insert(key.clone(), root.anchor.to_string());
        let heading = format!("{} (`{}/*.toml`)", root.title, root.dir);
        r.titles.insert(root.anchor.to_string(), vec![heading.clone()]);
        let top = TPath {
            dotted: String::new(),
            title: heading.clone(),
            note: None,
        };
        r.section(&key, &top, 2)?;
        // The root's own docs, else its file's module docs.
        if let Some(first) = r.sections.first_mut() {
            if first.text.first().is_some_and(|l| l.starts_with('|')) {
                let paragraphs: Vec<String> = module_docs
                    .split(|l| l.trim().is_empty())
                    .map(join_docs)
                    .filter(|p| !p.is_empty())
                    .collect();
                first.text.splice(0..0, paragraphs);
            }
        }
        contents.push(format!("- [{heading}](#{})", root.anchor));
        for sec in &r.sections {
            let title = match &sec.title {
                Some(t) => t.clone(),
                None => r.titles[&sec.anchor].join(", "),
            };
            body.push(String::new());
            body.push(format!("<a id=\"{}\"></a>", sec.anchor));
            body.push(String::new());
            body.push(format!("{} {title}", "#".repeat(sec.level)));
            body.push(String::new());
            let mut last_table = false;
            for line in &sec.text {
                let table = line.starts_with('|');
                let item = line.starts_with("- ");
                if !(body.last().is_some_and(|l: &String| l.is_empty()) || item || (table && last_table)) {
                    body.push(String::new());
                }
                body.push(line.clone());
                last_table = table;
            }
        }
        values = std::mem::take(&mut r.values);
        open.append(&mut r.open);
    }
    if !values.is_empty() {
        contents.push("- [Value types](#value-types)".into());
        body.push(String::new());
        body.push("<a id=\"value-types\"></a>".into());
        body.push(String::new());
        body.push("## Value types".into());
        for (anchor, (name, docs)) in &values {
            body.extend([
                String::new(),
                format!("<a id=\"{anchor}\"></a>"),
                String::new(),
                format!("### `{name}`"),
                String::new(),
                docs.clone(),
            ]);
        }
    }
    let sources: Vec<String> = s.files.keys().map(|f| format!("`{}`", s.rel(f))).collect();
    let refused = if open.is_empty() {
        "Unknown keys are refused in every table (serde's `deny_unknown_fields`): a misspelt key \
         stops the run before anything starts."
            .to_string()
    } else {
        format!(
            "Unknown keys are refused (serde's `deny_unknown_fields`) in every table except {}.",
            open.join(", ")
        )
    };
    let mut out = vec![
        format!(
            "<!-- Generated by harness/tests/rig_file_reference.rs: do not edit. Regenerate: {BLESS} -->"
        ),
        String::new(),
        "# Rig file reference".to_string(),
        String::new(),
        format!(
            "Generated from the doc comments of the serde types that read these files, in {}. \
             Do not edit it by hand: change the doc comments, then regenerate it with",
            sources.join(", ")
        ),
        String::new(),
        format!("    {BLESS}"),
        String::new(),
        "(`cargo test` fails while this file and the schema differ.)".to_string(),
        String::new(),
        refused,
        String::new(),
        "Types: string; integer; number (an integer or a decimal); boolean; path (a file name as a \
         string: relative to the rig file where the description says so, else used as given); \
         array of ... \
         (`[a, b]`); table (a `[section]`, or inline `{ key = value }`). A key marked optional may \
         be left out; \"default\" is the value it then takes."
            .to_string(),
        String::new(),
    ];
    out.extend(contents);
    out.extend(body);
    Ok(out.join("\n") + "\n")
}

/// The first differing lines of two texts, as a unified diff hunk.
fn first_difference(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (mut ea, mut eb) = (a.len(), b.len());
    while ea > start && eb > start && a[ea - 1] == b[eb - 1] {
        ea -= 1;
        eb -= 1;
    }
    let ctx = start.saturating_sub(3);
    let mut out = vec![format!("@@ -{} +{} @@", start + 1, start + 1)];
    out.extend(a[ctx..start].iter().map(|l| format!(" {l}")));
    const MAX: usize = 25;
    for (sign, lines) in [('-', &a[start..ea]), ('+', &b[start..eb])] {
        out.extend(lines.iter().take(MAX).map(|l| format!("{sign}{l}")));
        if lines.len() > MAX {
            out.push(format!("{sign}... ({} more lines)", lines.len() - MAX));
        }
    }
    out.extend(a[ea..].iter().take(3).map(|l| format!(" {l}")));
    out.join("\n")
}

fn generated() -> String {
    render(&mut Schema::new(), ROOTS).unwrap_or_else(|e| panic!("reading the rig schema: {e}"))
}

#[test]
fn docs_rig_file_md_is_generated_from_the_schema() {
    let text = generated();
    let path = workspace().join(OUTPUT);
    if std::env::var("PLUGRIG_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("writing {OUTPUT}: {e}"));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "{OUTPUT} is not what the rig schema's doc comments say (the sources its header lists). Regenerate it:\n\n    \
         {BLESS}\n\n--- {OUTPUT}\n+++ generated\n{}\n",
        first_difference(&current, &text)
    );
}

#[test]
fn every_key_of_the_shipped_rigs_and_plugs_is_in_the_reference() {
    let mut s = Schema::new();
    let reference = render(&mut s, ROOTS).unwrap_or_else(|e| panic!("reading the rig schema: {e}"));
    let (mut missing, mut keys) = (Vec::new(), BTreeSet::new());
    for root in ROOTS {
        let ty = s
            .root_ty(&s.root.join(root.file))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join(root.dir))
            .unwrap_or_else(|e| panic!("{}: {e}", root.dir))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        assert!(files.len() >= 2, "{}/ holds the shipped files", root.dir);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("a shipped file");
            let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let mut m = Vec::new();
            s.covered(&ty, &v, "", &mut m, &mut keys)
                .unwrap_or_else(|e| panic!("{e}"));
            missing.extend(m.into_iter().map(|k| format!("{}: {k}", s.rel(&f))));
        }
    }
    assert!(
        missing.is_empty(),
        "keys the schema (and so {OUTPUT}) does not describe:\n{}",
        missing.join("\n")
    );
    let absent: Vec<&String> = keys
        .iter()
        .filter(|k| !reference.contains(&format!("| `{k}`")))
        .collect();
    assert!(absent.is_empty(), "keys with no row in {OUTPUT}: {absent:?}");
    assert!(keys.len() > 30, "the shipped files use more keys than {keys:?}");
}

const SAMPLE: &str = r#"
//! A sample schema.
use serde::Deserialize;

/// A sample file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub inner: Inner,
}

/// The inner table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Inner {
    /// How many times,
    /// per second ("|" escaped).
    #[serde(default = "three")]
    pub per_second: u32,
    #[serde(rename = "colour", default)]
    pub color: Option<String>, // a trailing comment
    /// Not read from the file.
    #[serde(skip)]
    pub cache: Vec<u8>,
    pub on: bool,
}

fn three() -> u32 {
    // three
    3
}

pub fn parse(text: &str) -> Result<Sample, toml::de::Error> {
    let s: Sample = toml::from_str(text)?;
    Ok(s)
}
"#;

#[test]
fn the_parser_reads_docs_defaults_renames_and_skips() {
    let mut s = Schema::new();
    let file = s.root.join("harness/src/sample.rs");
    s.texts.insert(file.clone(), SAMPLE.to_string());
    let key = s
        .find(&file, &["Inner".to_string()], "type", |p, n| {
            p.items.iter().any(|i| i.name == n)
        })
        .unwrap();
    let t = s.table_model(&key).unwrap();
    let fields: Vec<(&str, &str, String)> = t
        .fields
        .iter()
        .map(|f| (f.key.as_str(), f.default.as_str(), join_docs(&f.docs)))
        .collect();
    assert_eq!(
        fields,
        [
            (
                "per-second",
                "default `3`",
                "How many times, per second (\"|\" escaped).".into()
            ),
            ("colour", "optional", String::new()),
            ("on", "required", String::new()),
        ]
    );
    let root = Root {
        file: "harness/src/sample.rs",
        title: "Sample",
        dir: "samples",
        anchor: "sample",
    };
    let md = render(&mut s, &[root]).unwrap();
    for line in [
        "# Rig file reference",
        "Generated from the doc comments of the serde types that read these files, in `harness/src/sample.rs`.",
        "## Sample (`samples/*.toml`)",
        "A sample file.",
        "| `inner` | table: [`[inner]`](#sample-inner) | required |  |",
        "### `[inner]`",
        "The inner table.",
        "| `per-second` | integer | default `3` | How many times, per second (\"\\|\" escaped). |",
        "| `colour` | string | optional |  |",
        "| `on` | boolean | required |  |",
    ] {
        assert!(md.lines().any(|l| l.starts_with(line)), "no line {line:?} in\n{md}");
    }
    assert!(!md.contains("cache"), "a skipped field is left out:\n{md}");
    assert!(md.contains("refused in every table"), "{md}");
}

#[test]
fn a_difference_shows_the_first_differing_lines() {
    let d = first_difference("a\nb\nc\nd\n", "a\nb\nX\nd\n");
    assert_eq!(d, "@@ -3 +3 @@\n a\n b\n-c\n+X\n d");
}

#[test]
fn renaming_the_schema_types_changes_nothing_in_the_reference() {
    let mut s = Schema::new();
    let renamed =
        Regex::new(r"\b(DutSpec|Broker|RelaySpec|ExternalDut|SimDut|PlugClaims|Pattern)\b").unwrap();
    for f in [
        "harness/src/rig/mod.rs",
        "harness/src/rig/sim.rs",
        "harness/src/rig/external.rs",
        "harness/src/rig/console.rs",
        "harness/src/rig/declaration.rs",
    ] {
        let path = s.root.join(f);
        let text = std::fs::read_to_string(&path).unwrap();
        s.texts
            .insert(path, renamed.replace_all(&text, "${1}2").into_owned());
    }
    let md = render(&mut s, ROOTS).unwrap_or_else(|e| panic!("{e}"));
    // Only the value type's own name shows in the reference.
    assert_eq!(
        md.replace("Pattern2", "Pattern").replace("pattern2", "pattern"),
        generated()
    );
}
