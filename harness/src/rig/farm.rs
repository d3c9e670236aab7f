//! `[farm]`: the labgrid place a rig's instruments come from (see the `farm` module, which
//! reserves it and maps its resources).

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[farm]` in a rig file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FarmSection {
    /// The place to reserve; `--place` overrides it.
    #[serde(default)]
    pub place: Option<String>,
    /// The coordinator, `HOST:PORT`; `LG_COORDINATOR` overrides it.
    #[serde(default)]
    pub coordinator: Option<String>,
    /// Reserve any place with these tags (and the place's name, if one is given).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// How long to wait for the place while other jobs hold it, seconds.
    #[serde(default = "wait_s")]
    pub wait_s: u64,
}

pub(crate) fn wait_s() -> u64 {
    3600
}

impl FarmSection {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (k, v) in &self.tags {
            let ok = |s: &str| !s.is_empty() && !s.contains(['=', ' ', '\t']);
            if !ok(k) || !ok(v) || k == "name" {
                anyhow::bail!("farm.tags: {k:?} = {v:?} is not a labgrid tag filter (the place's name goes in farm.place)");
            }
        }
        if self.wait_s == 0 {
            anyhow::bail!("farm.wait_s must be at least 1");
        }
        Ok(())
    }
}
