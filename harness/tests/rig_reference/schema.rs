//! The schema: every type reachable from a root, found across files and crates, with its
//! fields, defaults and docs.

use super::*;

pub(crate) struct Schema {
    pub(crate) root: PathBuf,
    /// Source given in place of a file (the parser's own test).
    pub(crate) texts: HashMap<PathBuf, String>,
    pub(crate) files: BTreeMap<PathBuf, Parsed>,
    pub(crate) crates: HashMap<PathBuf, HashMap<String, PathBuf>>,
}

impl Schema {
    pub(crate) fn new() -> Schema {
        Schema {
            root: workspace(),
            texts: HashMap::new(),
            files: BTreeMap::new(),
            crates: HashMap::new(),
        }
    }

    pub(crate) fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).display().to_string()
    }

    pub(crate) fn file(&mut self, path: &Path) -> Res<&Parsed> {
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
    pub(crate) fn crate_of(&mut self, file: &Path) -> Res<(PathBuf, HashMap<String, PathBuf>)> {
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

    pub(crate) fn module_of(src: &Path, file: &Path) -> Vec<String> {
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

    pub(crate) fn module_file(&self, src: &Path, mods: &[String]) -> Res<PathBuf> {
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
    pub(crate) fn resolve(&mut self, file: &Path, segs: &[String], hops: u32) -> Res<(PathBuf, String)> {
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
    pub(crate) fn find(
        &mut self,
        file: &Path,
        segs: &[String],
        what: &str,
        has: fn(&Parsed, &str) -> bool,
    ) -> Res<Key> {
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

    pub(crate) fn item(&mut self, key: &Key) -> Res<Item> {
        self.file(&key.0)?
            .items
            .iter()
            .find(|i| i.name == key.1)
            .cloned()
            .ok_or_else(|| format!("no struct or enum `{}`", key.1))
    }

    pub(crate) fn ty(&mut self, file: &Path, t: &TypeExpr) -> Res<Ty> {
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

    pub(crate) fn variant_name(&self, enum_item: &Item, v: &Variant) -> Res<String> {
        match (&v.serde.rename, &enum_item.serde.rename_all) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(rule)) => rename_rule(rule, &v.name, true),
            (None, None) => Ok(v.name.clone()),
        }
    }

    pub(crate) fn refuse_unsupported(&self, what: &str, s: &Serde) -> Res<()> {
        match s.unsupported.as_slice() {
            [] => Ok(()),
            u => Err(format!(
                "{what}: serde attributes this generator cannot render: {}",
                u.join(", ")
            )),
        }
    }

    pub(crate) fn fields(
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
    pub(crate) fn table_model(&mut self, key: &Key) -> Res<TableModel> {
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
    pub(crate) fn variants(&mut self, key: &Key) -> Res<(String, Vec<VariantModel>)> {
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
    pub(crate) fn value(&mut self, file: &Path, expr: &str, depth: u32) -> Res<Val> {
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
    pub(crate) fn root_ty(&mut self, file: &Path) -> Res<Ty> {
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
    pub(crate) fn covered(
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

pub(crate) fn type_default(ty: &Ty) -> String {
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
