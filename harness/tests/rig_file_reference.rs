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

use std::collections::BTreeSet;
use std::path::PathBuf;

pub(crate) type Res<T> = Result<T, String>;

/// The command that writes `docs/rig-file.md`.
pub(crate) const BLESS: &str = "PLUGRIG_BLESS=1 cargo test -p plugrig --test rig_file_reference";
pub(crate) const OUTPUT: &str = "docs/rig-file.md";

/// A file kind and the source file whose `toml::from_str` says which type reads it.
pub(crate) struct Root {
    pub(crate) file: &'static str,
    pub(crate) title: &'static str,
    /// The directory of the shipped files of this kind.
    pub(crate) dir: &'static str,
    pub(crate) anchor: &'static str,
}

pub(crate) const ROOTS: &[Root] = &[
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
        static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        R.get_or_init(|| regex::Regex::new($p).expect("a valid regex"))
    }};
}

mod rig_reference;
use rig_reference::*;

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
        regex::Regex::new(r"\b(DutSpec|Broker|RelaySpec|ExternalDut|SimDut|PlugClaims|Pattern)\b").unwrap();
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
