//! A finding kept: the inputs that lead to it (minimized), the seed and indices they came
//! from, what the oracle said, the plug's timeline, and its capture. `plugrig fuzz --replay
//! FILE` sends the same inputs to a fresh plug and judges it again.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::generate::Expected;
use super::input::Input;
use super::probe::Finding;

/// One input as it was sent, with the code the notes pin for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sent {
    pub input: Input,
    #[serde(default)]
    pub expect: Option<Expected>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reproducer {
    /// What this file is (a check on `--replay`).
    pub format: String,
    pub finding: Finding,
    /// The run's seed and the indices of the inputs that led to it (before minimizing).
    pub seed: u64,
    pub indices: Vec<u64>,
    /// The inputs to send to a fresh plug, in order: minimized.
    pub inputs: Vec<Sent>,
    /// Bytes before and after minimizing.
    pub bytes_found: usize,
    pub bytes_minimized: usize,
    /// The plug's timeline when it was found, one entry per line.
    pub timeline: Vec<String>,
    /// The capture of the session that found it, relative to the report directory.
    pub capture: Option<PathBuf>,
    /// The rig it was found on.
    pub rig: String,
    /// What a person added: what it was and how it was fixed (`fuzz/known/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub const FORMAT: &str = "plugrig-fuzz-reproducer/1";

impl Reproducer {
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(path: &Path) -> anyhow::Result<Reproducer> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let r: Reproducer = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a fuzz reproducer", path.display()))?;
        anyhow::ensure!(
            r.format == FORMAT,
            "{}: format {:?}, this plugrig reads {FORMAT:?}",
            path.display(),
            r.format
        );
        anyhow::ensure!(!r.inputs.is_empty(), "{}: no inputs", path.display());
        Ok(r)
    }
}
