//! Rig files: what the DUT is, which broker it talks to, and how the run goes. A rig is
//! data (labgrid's resources); drivers are chosen from it when the rig starts.
//!
//! A mistake in a rig file is reported with the file, the line and the key before anything
//! starts.

pub mod capabilities;
pub mod console;
pub mod declaration;
pub mod dut;
pub mod external;
pub mod farm;
pub mod sim;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

pub use instruments::meter::MeterSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFile {
    /// The rig itself: its name, time scale and mains range.
    pub rig: RigSection,
    /// The device under test (`kind`): the simulated plug, or an external plug and the
    /// instruments that drive it.
    pub dut: DutSpec,
    /// The MQTT broker of the run (`kind`): embedded in plugrig, or one already running.
    pub broker: Broker,
    /// The reference power meter, if the rig has one.
    #[serde(default)]
    pub meter: Option<MeterSpec>,
    /// How the run goes; every key has a default.
    #[serde(default)]
    pub run: RunSection,
    /// The labgrid place this rig's instruments come from (`place:NAME` ports), if shared.
    #[serde(default)]
    pub farm: Option<farm::FarmSection>,
    /// The plug's declaration, when the rig or `--plug` names one (`declaration`): its
    /// claims are already in `dut`; the claim scenarios read the rest.
    #[serde(skip)]
    pub declaration: Option<declaration::Loaded>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigSection {
    /// The rig's name, shown in the run's header and recorded with the run (JUnit, the
    /// provenance, the run ledger).
    pub name: String,
    /// The DUT's application timers run this many times faster than a real plug's
    /// (a simulator); every expected period is divided by it.
    #[serde(default = "one")]
    pub time_scale: u32,
    /// The mains voltage the bench supplies may lie in this range, volts: a plug's voltage
    /// readings outside it are in the wrong unit (checked without a reference meter).
    #[serde(default = "mains_range")]
    pub mains_range_v: [f64; 2],
}

fn mains_range() -> [f64; 2] {
    [90.0, 264.0]
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DutSpec {
    /// The simulated plug built from this workspace, one per scenario.
    Sim(sim::SimDut),
    /// Any plug, black box, at its AP address; one plug for the whole run.
    // Boxed: a bench rig file carries many drivers.
    External(Box<external::ExternalDut>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Broker {
    /// rumqttd inside the harness, on a free loopback port.
    Embedded {
        /// The user name the broker accepts: plugrig's app client and the plug (given it in
        /// 4002) log in with it.
        username: String,
        /// The password that goes with `username`.
        password: String,
    },
    /// A broker already running (Debian's mosquitto in CI), reachable on loopback.
    External {
        /// The broker's host name or IP address (not empty).
        host: String,
        /// The broker's MQTT port, plain TCP (see `tls_port`).
        port: u16,
        /// The user name plugrig's app client and the plug log in with; absent: "plugrig".
        #[serde(default)]
        username: Option<String>,
        /// The password that goes with `username`; absent: "plugrig".
        #[serde(default)]
        password: Option<String>,
        /// The same broker's TLS listener (mosquitto's in CI): the tap carries the plug's
        /// session there over TLS; the app side stays on `port`.
        #[serde(default)]
        tls_port: Option<u16>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Scenarios run at once (each with its own plug on the simulated rig).
    #[serde(default = "concurrency")]
    pub concurrency: usize,
    /// As `plugrig run --advisory-profile`: failures of scenarios that check only [profile]
    /// rules are reported apart and do not fail the run.
    #[serde(default)]
    pub advisory_profile: bool,
    /// A bench plug left provisioned and connected by a scenario that changed nothing
    /// lasting serves the next scenario that starts connected, without a reset (default);
    /// false resets it after every scenario.
    #[serde(default = "yes")]
    pub reuse_connected: bool,
    /// As `plugrig run --history DEST`: the run ledger to append every run to (a SQLite
    /// file, or a PostgreSQL URL).
    #[serde(default)]
    pub history: Option<String>,
    /// As `plugrig run --quarantine FILE`: known failures, each with a reason, a link and
    /// an expiry (`crate::commands::run::quarantine`); a path relative to the rig file.
    #[serde(default)]
    pub quarantine: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

fn concurrency() -> usize {
    4
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            concurrency: concurrency(),
            advisory_profile: false,
            reuse_connected: true,
            history: None,
            quarantine: None,
        }
    }
}

impl RigFile {
    /// What this rig and its DUT can do: scenarios that need more are skipped.
    pub fn capabilities(&self) -> Vec<crate::rig::capabilities::Capability> {
        let mut caps = self.dut.capabilities();
        if self.meter.is_some() {
            caps.push(crate::rig::capabilities::Capability::ReferenceMeter);
        }
        if self.declaration.as_ref().is_some_and(|d| {
            let f = &d.declaration.firmware;
            f.version.is_some() || f.company_name.is_some() || f.product_model.is_some()
        }) {
            caps.push(crate::rig::capabilities::Capability::DeclaredFirmware);
        }
        caps
    }
}

#[derive(Debug, Clone)]
pub struct Rig {
    pub file: RigFile,
    pub path: PathBuf,
}

/// Parses rig text; errors read `FILE:LINE: message` and name the offending key.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<RigFile> {
    let rig: RigFile = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        let line = e.span().map(|s| error_line(text, s.start, &msg));
        match line {
            Some(l) => anyhow::anyhow!("{}:{l}: {msg}", path.display()),
            None => anyhow::anyhow!("{}: {msg}", path.display()),
        }
    })?;
    validate(&rig).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(rig)
}

/// The line of an error. For tagged tables (`[dut]`, `[broker]`) toml reports the table's
/// span; an unknown key is then looked up inside that table so the line names the key.
pub(crate) fn error_line(text: &str, at: usize, msg: &str) -> usize {
    let line = text[..at.min(text.len())].matches('\n').count() + 1;
    let Some(key) = msg
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next())
    else {
        return line;
    };
    for (n, l) in text.lines().enumerate().skip(line - 1) {
        let l = l.trim_start();
        if n >= line && l.starts_with('[') {
            break;
        }
        if l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return n + 1;
        }
    }
    line
}

fn validate(r: &RigFile) -> anyhow::Result<()> {
    if r.rig.time_scale == 0 {
        anyhow::bail!("rig.time_scale must be at least 1");
    }
    let [lo, hi] = r.rig.mains_range_v;
    if !(lo > 0.0 && lo < hi) {
        anyhow::bail!("rig.mains_range_v must be [low, high] volts with 0 < low < high, got [{lo}, {hi}]");
    }
    if r.run.concurrency == 0 {
        anyhow::bail!("run.concurrency must be at least 1");
    }
    r.dut.validate()?;
    if let Some(f) = &r.farm {
        f.validate()?;
    }
    if let Broker::External { host, .. } = &r.broker {
        // Tests reach loopback only; a bench rig names its broker explicitly.
        if host.is_empty() {
            anyhow::bail!("broker.host must not be empty");
        }
    }
    Ok(())
}

pub fn load(path: &Path) -> anyhow::Result<Rig> {
    load_with(path, None)
}

/// Loads a rig file and the plug's declaration: `plug` (as `plugrig run --plug FILE`), else
/// the one its `[dut] plug` names, relative to the rig file.
pub fn load_with(path: &Path, plug: Option<&Path>) -> anyhow::Result<Rig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading rig file {}", path.display()))?;
    let mut file = parse(&text, path)?;
    let named = match plug {
        Some(p) => Some(p.to_path_buf()),
        None => file
            .dut
            .plug_file()
            .map(|p| path.parent().unwrap_or(Path::new(".")).join(p)),
    };
    if let Some(decl) = named {
        let loaded = declaration::load(&decl)?;
        declaration::apply(&mut file.dut, &loaded, &text, path)?;
        file.dut
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", decl.display()))?;
        file.declaration = Some(loaded);
    }
    Ok(Rig {
        file,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const GOOD: &str = r#"
[rig]
name = "sim"
time_scale = 10

[dut]
kind = "sim"

[broker]
kind = "embedded"
username = "u"
password = "p"
"#;

    fn err(text: &str) -> String {
        parse(text, Path::new("r.toml")).unwrap_err().to_string()
    }

    #[test]
    fn a_good_rig_parses() {
        let r = parse(GOOD, Path::new("r.toml")).unwrap();
        assert_eq!(r.rig.time_scale, 10);
        assert_eq!(r.run.concurrency, 4);
    }

    #[rstest]
    #[case::unknown_key(GOOD.replace("time_scale = 10", "time_scale = 10\ncolour = 1"), "r.toml:5:", "colour")]
    #[case::wrong_type(GOOD.replace("time_scale = 10", "time_scale = \"fast\""), "r.toml:4:", "string")]
    #[case::unknown_dut_kind(GOOD.replace("kind = \"sim\"", "kind = \"toaster\""), "r.toml:", "toaster")]
    #[case::unknown_dut_key(GOOD.replace("kind = \"sim\"", "kind = \"sim\"\nflavour = 2"), "r.toml:", "flavour")]
    #[case::missing_section(GOOD.replace("[broker]\nkind = \"embedded\"\nusername = \"u\"\npassword = \"p\"\n", ""), "r.toml", "broker")]
    #[case::zero_scale(GOOD.replace("time_scale = 10", "time_scale = 0"), "r.toml", "time_scale")]
    fn mistakes_name_the_line_and_the_key(#[case] text: String, #[case] place: &str, #[case] key: &str) {
        let e = err(&text);
        assert!(e.starts_with(place), "{e}");
        assert!(e.contains(key), "{e}");
    }

    #[test]
    fn an_sdm230_is_read_by_the_sdm120_driver() {
        let text = format!("{GOOD}\n[meter]\nkind = \"sdm230\"\nport = \"/dev/ttyUSB1\"\naddress = 3\n");
        let rig: RigFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(rig.meter, Some(MeterSpec::Sdm120 { address: 3, .. })));
    }

    #[test]
    fn the_shipped_rigs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rigs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                load(&p).unwrap_or_else(|e| panic!("{e:#}"));
                n += 1;
            }
        }
        assert!(n >= 2, "rigs/ holds the default rigs");
    }
}
