//! Type expressions as TOML sees them, serde's rename rules, and literal values.

use super::*;

#[derive(Debug, Clone)]
pub(crate) enum Ty {
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

pub(crate) struct TypeExpr {
    pub(crate) path: Vec<String>,
    pub(crate) args: Vec<TypeExpr>,
    pub(crate) array: Option<(Box<TypeExpr>, String)>,
}

pub(crate) fn parse_type(s: &str) -> Res<TypeExpr> {
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

pub(crate) fn scalar(name: &str) -> Option<&'static str> {
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
pub(crate) fn rename_rule(rule: &str, name: &str, variant: bool) -> Res<String> {
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
pub(crate) enum Val {
    Toml(String),
    Rust(String),
}

pub(crate) fn toml_string(content: &str, raw: bool) -> String {
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
pub(crate) fn string_literal(e: &str) -> Option<(String, bool)> {
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
pub(crate) struct TableModel {
    pub(crate) docs: Vec<String>,
    pub(crate) deny: bool,
    pub(crate) fields: Vec<FieldModel>,
}

pub(crate) struct FieldModel {
    pub(crate) key: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) ty: Ty,
    pub(crate) docs: Vec<String>,
    /// "required", "optional" or "default `v`".
    pub(crate) default: String,
}

/// One kind of an internally tagged enum.
pub(crate) struct VariantModel {
    pub(crate) value: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) docs: Vec<String>,
    pub(crate) table: Option<TableModel>,
}
