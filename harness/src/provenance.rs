//! Where a verdict comes from: which plugrig, which firmware, which plug, which rig, which
//! host, when, and what was selected. Every report format carries it (HTML header, JUnit
//! properties, verdict.txt, Cucumber JSON) and so does the run ledger, so that a verdict read
//! months later still says what it is about.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// plugrig's own version and the commit it was built from (build.rs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("PLUGRIG_GIT_COMMIT");
/// "clean", "dirty" (tracked files differed from the commit when it was built) or "unknown".
pub const TREE: &str = env!("PLUGRIG_GIT_TREE");

#[derive(Debug, Clone)]
pub struct Provenance {
    pub rig_name: String,
    pub rig_path: PathBuf,
    /// SHA-256 of the rig file's bytes.
    pub rig_sha256: String,
    /// The plug's declaration and its bytes' SHA-256, when one was named
    /// (`rig::declaration`); without one the rig file carries the claims.
    pub declaration: Option<(PathBuf, String)>,
    /// What ran on the plug: the firmware image plugrig flashed, or the plug-sim binary on
    /// the simulated rig; None when plugrig did not put the firmware there.
    pub firmware: Option<Firmware>,
    pub host: String,
    pub time_scale: u32,
    /// The rig's measured jitter (`jitter.rs`), its closing line.
    pub jitter: String,
    pub started: SystemTime,
    pub tags: Option<String>,
    pub features: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Firmware {
    /// "plug-sim binary" or "application image".
    pub what: String,
    pub path: PathBuf,
    pub sha256: String,
    /// What else decides the firmware's behaviour besides its bytes: the simulated plug's
    /// test-only faults and variations (`--fault x --variant y`); empty on a real plug.
    pub flags: String,
}

impl Provenance {
    /// plugrig as a string: `0.1.0 (commit 1a2b3c4d5e6f, dirty)`.
    pub fn plugrig() -> String {
        let short: String = COMMIT.chars().take(12).collect();
        format!("{VERSION} (commit {short}, {TREE})")
    }

    pub fn firmware_line(&self) -> String {
        match &self.firmware {
            Some(f) if f.flags.is_empty() => format!("{} {} sha256 {}", f.what, f.path.display(), f.sha256),
            Some(f) => format!(
                "{} {} sha256 {} with {}",
                f.what,
                f.path.display(),
                f.sha256,
                f.flags
            ),
            None => "not known: the plug runs the firmware it had (no [dut.flash])".into(),
        }
    }

    /// Where the plug's claims come from.
    pub fn declaration_line(&self) -> String {
        match &self.declaration {
            Some((p, sha)) => format!("declaration {} sha256 {sha}", p.display()),
            None => "claims in the rig file's [dut] (no declaration)".into(),
        }
    }

    /// As name-value pairs, for JUnit properties and the Cucumber JSON (the end of the run,
    /// `run.ended`, is added where a report is written).
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("plugrig.version".to_string(), VERSION.to_string()),
            ("plugrig.commit".into(), COMMIT.to_string()),
            ("plugrig.tree".into(), TREE.to_string()),
            ("rig.name".into(), self.rig_name.clone()),
            ("rig.file".into(), self.rig_path.display().to_string()),
            ("rig.sha256".into(), self.rig_sha256.clone()),
            (
                "plug.declaration".into(),
                self.declaration
                    .as_ref()
                    .map(|d| d.0.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                "plug.declaration.sha256".into(),
                self.declaration.as_ref().map(|d| d.1.clone()).unwrap_or_default(),
            ),
            ("run.host".into(), self.host.clone()),
            ("run.time_scale".into(), self.time_scale.to_string()),
            ("run.started".into(), rfc3339(self.started)),
            ("run.tags".into(), self.tags.clone().unwrap_or_default()),
            ("run.features".into(), self.features.join(" ")),
        ];
        match &self.firmware {
            Some(f) => {
                p.push(("firmware.what".into(), f.what.clone()));
                p.push(("firmware.path".into(), f.path.display().to_string()));
                p.push(("firmware.sha256".into(), f.sha256.clone()));
                p.push(("firmware.flags".into(), f.flags.clone()));
            }
            None => p.push(("firmware.sha256".into(), String::new())),
        }
        p
    }

    /// Lines for verdict.txt and the terminal.
    pub fn lines(&self, ended: SystemTime) -> String {
        format!(
            "plugrig {}\nrig {} ({}, sha256 {}), time scale {}, host {}\nplug: {}\nfirmware: {}\nrun {} to {}, tags {}, features {}\n",
            Self::plugrig(),
            self.rig_name,
            self.rig_path.display(),
            self.rig_sha256,
            self.time_scale,
            self.host,
            self.declaration_line(),
            self.firmware_line(),
            rfc3339(self.started),
            rfc3339(ended),
            self.tags.as_deref().unwrap_or("(all)"),
            if self.features.is_empty() {
                "(default)".to_string()
            } else {
                self.features.join(" ")
            }
        )
    }
}

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

pub fn sha256_bytes(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// UTC, to the second: `2026-12-06T09:13:38Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// This host's name (the kernel's).
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_says_which_commit_and_whether_the_tree_was_clean() {
        assert!(COMMIT == "unknown" || (COMMIT.len() == 40 && COMMIT.chars().all(|c| c.is_ascii_hexdigit())));
        assert!(["clean", "dirty", "unknown"].contains(&TREE));
        assert!(Provenance::plugrig().starts_with(VERSION));
    }

    #[test]
    fn sha256_of_known_bytes() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
