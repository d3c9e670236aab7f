//! The Markdown: one section per TOML table, a row per key.

use super::*;

/// Where a table sits in the file: `dut.power_relay`, its heading, and under which kind.
#[derive(Clone)]
pub(crate) struct TPath {
    pub(crate) dotted: String,
    pub(crate) title: String,
    pub(crate) note: Option<String>,
}

impl TPath {
    pub(crate) fn key(&self, key: &str) -> TPath {
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

pub(crate) struct Section {
    pub(crate) level: usize,
    pub(crate) anchor: String,
    /// `None`: the headings of every key that reaches this type (`titles`).
    pub(crate) title: Option<String>,
    pub(crate) text: Vec<String>,
}

pub(crate) struct Render<'a> {
    pub(crate) s: &'a mut Schema,
    pub(crate) prefix: String,
    pub(crate) sections: Vec<Section>,
    pub(crate) placed: HashMap<Key, String>,
    pub(crate) titles: HashMap<String, Vec<String>>,
    pub(crate) anchors: BTreeSet<String>,
    /// Value types (hand-written Deserialize): anchor → (name, docs).
    pub(crate) values: BTreeMap<String, (String, String)>,
    /// Tables that accept unknown keys.
    pub(crate) open: Vec<String>,
}

pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

pub(crate) fn plural(t: &str) -> String {
    match t.find([' ', ':']) {
        Some(p) => format!("{}s{}", &t[..p], &t[p..]),
        None => format!("{t}s"),
    }
}

impl Render<'_> {
    pub(crate) fn anchor(&mut self, base: &str) -> String {
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
    pub(crate) fn place(&mut self, key: &Key, p: &TPath, children: &mut Vec<(Key, TPath)>) -> String {
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

    pub(crate) fn ty_text(&mut self, ty: &Ty, p: &TPath, children: &mut Vec<(Key, TPath)>) -> Res<String> {
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

    pub(crate) fn rows(
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

    pub(crate) fn intro(docs: &[&[String]], note: &Option<String>) -> Vec<String> {
        let mut out: Vec<String> = docs
            .iter()
            .map(|d| join_docs(d))
            .filter(|d| !d.is_empty())
            .collect();
        out.extend(note.iter().cloned());
        out
    }

    pub(crate) fn section(&mut self, key: &Key, p: &TPath, level: usize) -> Res<()> {
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
pub(crate) fn render(s: &mut Schema, roots: &[Root]) -> Res<String> {
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
pub(crate) fn first_difference(old: &str, new: &str) -> String {
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

pub(crate) fn generated() -> String {
    render(&mut Schema::new(), ROOTS).unwrap_or_else(|e| panic!("reading the rig schema: {e}"))
}
