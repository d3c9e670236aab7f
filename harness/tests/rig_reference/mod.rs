//! The generator behind `rig_file_reference.rs`, in parts: `scan` (the source text), `items`
//! (what a file declares), `types`, `schema` (every type reachable from a root) and `render`.

mod items;
mod render;
mod scan;
mod schema;
mod types;

pub(crate) use items::*;
pub(crate) use render::*;
pub(crate) use scan::*;
pub(crate) use schema::*;
pub(crate) use types::*;

pub(crate) use super::{Res, Root, BLESS, ROOTS};
pub(crate) use std::collections::{BTreeMap, BTreeSet, HashMap};
pub(crate) use std::path::{Path, PathBuf};
