//! Items of a source file: serde attributes, fields, variants, `use` trees, free functions
//! and consts, read from the scanned lines.

use super::*;

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Serde {
    /// `Some(None)`: `#[serde(default)]`; `Some(Some(f))`: `#[serde(default = "f")]`.
    pub(crate) default: Option<Option<String>>,
    pub(crate) rename: Option<String>,
    pub(crate) rename_all: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) deny_unknown_fields: bool,
    pub(crate) skip: bool,
    pub(crate) aliases: Vec<String>,
    /// `from` / `try_from`: read as this type, then converted.
    pub(crate) from: Option<String>,
    /// Attributes this generator cannot render (refused when the item is used).
    pub(crate) unsupported: Vec<String>,
}

pub(crate) fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

pub(crate) fn serde_of(attrs: &[String]) -> Serde {
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

pub(crate) fn derives(attrs: &[String]) -> Vec<String> {
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
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: String,
    pub(crate) docs: Vec<String>,
    pub(crate) serde: Serde,
}

#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Unit,
    /// `Name(Type)`, or a tuple struct's types.
    Tuple(Vec<String>),
    Named(Vec<Field>),
}

#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) name: String,
    pub(crate) docs: Vec<String>,
    pub(crate) serde: Serde,
    pub(crate) shape: Shape,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Struct(Shape),
    Enum(Vec<Variant>),
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) name: String,
    pub(crate) docs: Vec<String>,
    pub(crate) serde: Serde,
    pub(crate) derives: Vec<String>,
    pub(crate) generic: bool,
    pub(crate) kind: Kind,
}

/// What one source file declares, as far as the reference needs it.
#[derive(Default)]
pub(crate) struct Parsed {
    pub(crate) module_docs: Vec<String>,
    pub(crate) items: Vec<Item>,
    /// Free functions: name → body (comments removed).
    pub(crate) fns: HashMap<String, String>,
    /// Constants: name → expression.
    pub(crate) consts: HashMap<String, String>,
    /// Names in scope through `use`: name → path.
    pub(crate) uses: Vec<(String, String)>,
    /// Types with a hand-written `Deserialize`: name → the type the impl reads first.
    pub(crate) custom: HashMap<String, String>,
    /// The types this file's code parses TOML into (`let x: T = toml::from_str(..)`).
    pub(crate) roots: Vec<String>,
}

/// A piece of an item's body: a doc line, an attribute, or a character of code.
pub(crate) enum Tok {
    Doc(String),
    Attr(String),
    Ch(char),
}

/// The tokens between `from` and `to`, (line, byte column), exclusive.
pub(crate) fn tokens(l: &Lines, from: (usize, usize), to: (usize, usize)) -> Vec<Tok> {
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
pub(crate) struct Entry {
    pub(crate) docs: Vec<String>,
    pub(crate) attrs: Vec<String>,
    pub(crate) code: String,
    pub(crate) inner: Option<Vec<Entry>>,
}

pub(crate) fn entries(toks: &[Tok], i: &mut usize, nested: bool) -> Res<Vec<Entry>> {
    pub(crate) fn finish(out: &mut Vec<Entry>, cur: &mut Entry) {
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

pub(crate) fn field_of(e: &Entry) -> Res<Field> {
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

pub(crate) fn tuple_types(code: &str) -> Vec<String> {
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

pub(crate) fn variant_of(e: &Entry) -> Res<Variant> {
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
pub(crate) fn statement_end(l: &Lines, i: usize) -> usize {
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
pub(crate) fn enclosed(
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
pub(crate) fn text_between(l: &Lines, from: (usize, usize), to: (usize, usize)) -> String {
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
pub(crate) fn expand_use(prefix: &str, tree: &str, out: &mut Vec<(String, String)>) {
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

pub(crate) fn parse_file(text: &str) -> Res<Parsed> {
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

pub(crate) type Key = (PathBuf, String);
