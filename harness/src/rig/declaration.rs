//! The plug's declaration: what a plug claims, in a file of its own (`plugs/*.toml`), apart
//! from the rig file, which describes the bench. Matter keeps the same two apart (a device's
//! PICS, the bench's PIXIT); a lab validating someone else's plug writes this file from the
//! vendor's documentation and runs it on its own bench.
//!
//! A rig names its plug with `[dut] plug = "FILE"` (relative to the rig file), or
//! `plugrig run --plug FILE` overrides it. The declaration's claims then fill the DUT's
//! (power monitoring, accuracy, TLS, upgrade images, console lines, boot time), and a claim
//! written in the rig file's `[dut]` as well is refused, naming its line: one source for each
//! claim. A rig file without a declaration may still carry the claims in `[dut]` (one file
//! for a quick test); the run's header says which.
//!
//! The claims are checked in two places: for consistency here, before anything starts
//! (file, key and line), and against the plug itself by the `@claims` scenarios, which start
//! first (`features/declaration.feature`, rule `declared-claims`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use super::console::Pattern;
use super::DutSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// What the plug is: its name, device_type, TLS and boot time.
    pub plug: PlugClaims,
    /// What the plug's 4001 reply says of itself; a field left out is not checked
    /// (device_mac differs per unit, so it is never declared).
    #[serde(default)]
    pub identity: IdentityClaims,
    /// What firmware_infor reports on the image the plug is validated with; a field left
    /// out is not checked.
    #[serde(default)]
    pub firmware: FirmwareClaims,
    /// Power metering: only with device_type "1".
    #[serde(default)]
    pub metering: Option<MeteringClaims>,
    /// The upgrade images the plug accepts (the R1-R4 scenarios need one).
    #[serde(default)]
    pub upgrade: UpgradeClaims,
    /// How the plug's console reports a boot and the relay, as regular expressions.
    #[serde(default)]
    pub console: ConsoleClaims,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlugClaims {
    /// A name for people: the product and its maker.
    pub name: String,
    /// "1": with power monitoring (electricity_information), "0": without.
    pub device_type: String,
    /// The plug connects over TLS when provisioned with connect_mode 1.
    #[serde(default)]
    pub tls: bool,
    /// Seconds from power-on (or flashing) to the console's boot line.
    #[serde(default)]
    pub boot_timeout_s: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityClaims {
    /// The device_function 4001 must report.
    pub device_function: Option<String>,
    /// The device_name 4001 must report.
    pub device_name: Option<String>,
    /// The region 4001 must report in device_specifications: CN, US, UK or EU (any case).
    pub device_specifications: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareClaims {
    /// The firmware_version firmware_infor must report, 1 to 16 bytes.
    pub version: Option<String>,
    /// The company_name firmware_infor must report.
    pub company_name: Option<String>,
    /// The product_model firmware_infor must report.
    pub product_model: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeteringClaims {
    /// The accuracy the plug claims, percent of reading: the tolerance against the
    /// reference meter is this plus the meter's class.
    pub accuracy_percent: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeClaims {
    /// This project's image format: an application body and the target it is built for
    /// (plugrig wraps it with a newer version, and makes corrupt and other-target copies).
    pub body: Option<PathBuf>,
    /// The target `body` is built for; the two go together.
    pub target: Option<String>,
    /// The plug's own format, served verbatim, and the version firmware_infor shows after
    /// installing it; optionally a deliberately broken image and a second image.
    pub image: Option<PathBuf>,
    /// The version firmware_infor must show after installing `image`; the two go together.
    pub version: Option<String>,
    /// A deliberately broken image in the plug's format, for the corrupt-image R2 case
    /// (with `image`).
    pub broken_image: Option<PathBuf>,
    /// A second image in the plug's format, offered to a plug that already runs `version`
    /// (with `image` and `next_version`).
    pub next_image: Option<PathBuf>,
    /// The version `next_image` carries; it must differ from `version`.
    pub next_version: Option<String>,
    /// The plug's stall timeout for a transfer, seconds of its clock.
    pub stall_s: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleClaims {
    /// The console line of a boot; absent: the rig's `console_boot` (default `boot fw=`).
    pub boot: Option<Pattern>,
    /// The console line of the relay switching on; absent: the rig's `console_relay_on`.
    pub relay_on: Option<Pattern>,
    /// The console line of the relay switching off; absent: the rig's `console_relay_off`.
    pub relay_off: Option<Pattern>,
}

/// A declaration as loaded: where from and its bytes' SHA-256 (the statement names it).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub sha256: String,
    /// The file's text, for the lines of refusals found after parsing.
    pub text: String,
    pub declaration: Declaration,
}

/// The rig file's `[dut]` keys that are the plug's claims: with a declaration, they belong
/// in it (declaration key in the second column).
const CLAIM_KEYS: &[(&str, &str)] = &[
    ("device_type", "plug.device_type"),
    ("power_monitoring", "plug.device_type"),
    ("tls", "plug.tls"),
    ("boot_timeout_s", "plug.boot_timeout_s"),
    ("firmware_version", "firmware.version"),
    ("claimed_accuracy_percent", "metering.accuracy_percent"),
    ("ota_body", "upgrade.body"),
    ("ota_target", "upgrade.target"),
    ("ota_image", "upgrade.image"),
    ("ota_version", "upgrade.version"),
    ("ota_broken_image", "upgrade.broken_image"),
    ("ota_next_image", "upgrade.next_image"),
    ("ota_next_version", "upgrade.next_version"),
    ("ota_stall_s", "upgrade.stall_s"),
    ("console_boot", "console.boot"),
    ("console_relay_on", "console.relay_on"),
    ("console_relay_off", "console.relay_off"),
];

/// Reads and checks a declaration; errors read `FILE:LINE: message` naming the key.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the plug declaration {}", path.display()))?;
    let declaration = parse(&text, path)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        // The bytes just read: the file is read once.
        sha256: crate::provenance::sha256_bytes(text.as_bytes()),
        declaration,
        text,
    })
}

pub fn parse(text: &str, path: &Path) -> anyhow::Result<Declaration> {
    let d: Declaration = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        match e.span().map(|s| super::error_line(text, s.start, &msg)) {
            Some(l) => anyhow::anyhow!("{}:{l}: {msg}", path.display()),
            None => anyhow::anyhow!("{}: {msg}", path.display()),
        }
    })?;
    if let Err((table, key, msg)) = d.check() {
        let at = line_of(text, table, key).map_or(String::new(), |l| format!(":{l}"));
        anyhow::bail!("{}{at}: {table}.{key}: {msg}", path.display());
    }
    Ok(d)
}

/// The line of `key` in `[table]`, if written there.
pub(crate) fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (n, l) in text.lines().enumerate() {
        let l = l.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = h.trim().to_string();
            continue;
        }
        if current == table
            && l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(n + 1);
        }
    }
    None
}

type Refusal = (&'static str, &'static str, String);

impl Declaration {
    /// Whether the plug claims power monitoring.
    pub fn power_monitoring(&self) -> bool {
        self.plug.device_type == "1"
    }

    /// Claims that cannot all be true, or keys that only make sense together: the table,
    /// the key and why.
    fn check(&self) -> Result<(), Refusal> {
        let refuse = |t, k, m: &str| Err((t, k, m.to_string()));
        if !["0", "1"].contains(&self.plug.device_type.as_str()) {
            return refuse(
                "plug",
                "device_type",
                "must be \"0\" (no power monitoring) or \"1\" (with it), as 4001 reports it",
            );
        }
        if let Some(m) = &self.metering {
            if !self.power_monitoring() {
                return refuse(
                    "metering",
                    "accuracy_percent",
                    "a metering accuracy claim without power monitoring: device_type \"0\" plugs do not measure",
                );
            }
            if !(m.accuracy_percent > 0.0 && m.accuracy_percent < 100.0) {
                return refuse(
                    "metering",
                    "accuracy_percent",
                    "percent of reading, above 0 and below 100",
                );
            }
        }
        if let Some(s) = &self.identity.device_specifications {
            if !["cn", "us", "uk", "eu"].contains(&s.to_ascii_lowercase().as_str()) {
                return refuse(
                    "identity",
                    "device_specifications",
                    "CN, US, UK or EU (the protocol's four)",
                );
            }
        }
        if let Some(v) = &self.firmware.version {
            if v.is_empty() || v.len() > 16 {
                return refuse("firmware", "version", "1 to 16 bytes");
            }
        }
        let u = &self.upgrade;
        if u.image.is_some() != u.version.is_some() {
            let key = if u.image.is_some() { "image" } else { "version" };
            return refuse("upgrade", key, "image and version go together: the version is what firmware_infor must show after installing the image");
        }
        if u.image.is_some() && (u.body.is_some() || u.target.is_some()) {
            return refuse(
                "upgrade",
                "image",
                "the plug's own image replaces body/target: give one or the other",
            );
        }
        if u.body.is_some() != u.target.is_some() {
            let key = if u.body.is_some() { "body" } else { "target" };
            return refuse("upgrade", key, "body and target go together");
        }
        if u.next_image.is_some() != u.next_version.is_some() {
            return refuse("upgrade", "next_image", "next_image and next_version go together");
        }
        if u.next_image.is_some() && u.image.is_none() {
            return refuse(
                "upgrade",
                "next_image",
                "a second image after upgrade.image: give that too",
            );
        }
        if u.next_version.is_some() && u.next_version == u.version {
            return refuse(
                "upgrade",
                "next_version",
                "must differ from upgrade.version: an upgrade must change the version",
            );
        }
        if u.broken_image.is_some() && u.image.is_none() {
            return refuse(
                "upgrade",
                "broken_image",
                "a broken image in the plug's format goes with upgrade.image",
            );
        }
        if u.stall_s.is_some_and(|s| s <= 0.0) {
            return refuse("upgrade", "stall_s", "seconds, above 0");
        }
        Ok(())
    }

    /// Claims the simulated plug cannot honour (its images are its own executable, its
    /// console its own format): the table and key of the first.
    fn refused_for_sim(&self) -> Option<(&'static str, &'static str)> {
        let u = &self.upgrade;
        let c = &self.console;
        [
            (u.body.is_some(), "upgrade", "body"),
            (u.target.is_some(), "upgrade", "target"),
            (u.image.is_some(), "upgrade", "image"),
            (u.stall_s.is_some(), "upgrade", "stall_s"),
            (c.boot.is_some(), "console", "boot"),
            (c.relay_on.is_some(), "console", "relay_on"),
            (c.relay_off.is_some(), "console", "relay_off"),
        ]
        .into_iter()
        .find_map(|(given, t, k)| given.then_some((t, k)))
    }
}

/// Applies `loaded` to the rig's DUT. `rig_text` is the rig file's text: a claim written in
/// its `[dut]` too is refused with its line.
pub fn apply(dut: &mut DutSpec, loaded: &Loaded, rig_text: &str, rig_path: &Path) -> anyhow::Result<()> {
    for (key, decl_key) in CLAIM_KEYS {
        if let Some(line) = line_of(rig_text, "dut", key) {
            anyhow::bail!(
                "{}:{line}: dut.{key} is the plug's claim, and the plug's declaration {} makes it: write it there as {decl_key} (the rig file describes the bench)",
                rig_path.display(),
                loaded.path.display()
            );
        }
    }
    let d = &loaded.declaration;
    match dut {
        DutSpec::Sim(s) => {
            if let Some((t, k)) = d.refused_for_sim() {
                let at = line_of(&loaded.text, t, k).map_or(String::new(), |l| format!(":{l}"));
                anyhow::bail!(
                    "{}{at}: {t}.{k}: the simulated plug's upgrade images are its own executable and its console its own format; this claim is for a plug on a bench",
                    loaded.path.display()
                );
            }
            s.device_type = d.plug.device_type.clone();
            s.tls = d.plug.tls;
            if let Some(v) = &d.firmware.version {
                s.firmware_version = v.clone();
            }
            if let Some(m) = &d.metering {
                s.claimed_accuracy_percent = m.accuracy_percent;
            }
        }
        DutSpec::External(e) => {
            e.power_monitoring = d.power_monitoring();
            e.tls = d.plug.tls;
            if let Some(m) = &d.metering {
                e.claimed_accuracy_percent = m.accuracy_percent;
            }
            if let Some(b) = d.plug.boot_timeout_s {
                e.boot_timeout_s = b;
            }
            let u = d.upgrade.clone();
            e.ota_body = u.body;
            e.ota_target = u.target;
            e.ota_image = u.image;
            e.ota_version = u.version;
            e.ota_broken_image = u.broken_image;
            e.ota_next_image = u.next_image;
            e.ota_next_version = u.next_version;
            if let Some(s) = u.stall_s {
                e.ota_stall_s = s;
            }
            let c = d.console.clone();
            set(&mut e.console_boot, c.boot);
            set(&mut e.console_relay_on, c.relay_on);
            set(&mut e.console_relay_off, c.relay_off);
        }
    }
    Ok(())
}

fn set(slot: &mut Pattern, v: Option<Pattern>) {
    if let Some(p) = v {
        *slot = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const GOOD: &str = r#"
[plug]
name = "Acme P1"
device_type = "1"
tls = true

[identity]
device_function = "iot_plug"
device_specifications = "eu"

[metering]
accuracy_percent = 1.5

[upgrade]
image = "acme-p1-2.bin"
version = "2.0.0"
"#;

    fn err(text: &str) -> String {
        parse(text, Path::new("acme.toml")).unwrap_err().to_string()
    }

    #[test]
    fn a_good_declaration_parses() {
        let d = parse(GOOD, Path::new("acme.toml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(d.power_monitoring());
        assert_eq!(d.identity.device_specifications.as_deref(), Some("eu"));
    }

    #[rstest]
    #[case::accuracy_without_metering(GOOD.replace("device_type = \"1\"", "device_type = \"0\""), "acme.toml:12:", "metering.accuracy_percent")]
    #[case::bad_device_type(GOOD.replace("device_type = \"1\"", "device_type = \"2\""), "acme.toml:4:", "plug.device_type")]
    #[case::image_without_version(GOOD.replace("version = \"2.0.0\"", ""), "acme.toml:15:", "upgrade.image")]
    #[case::bad_region(GOOD.replace("\"eu\"", "\"mars\""), "acme.toml:9:", "identity.device_specifications")]
    #[case::unknown_key(GOOD.replace("tls = true", "tls = true\ncolour = 1"), "acme.toml:6:", "colour")]
    #[case::wrong_type(GOOD.replace("tls = true", "tls = \"yes\""), "acme.toml:5:", "bool")]
    fn mistakes_name_the_file_the_line_and_the_key(
        #[case] text: String,
        #[case] place: &str,
        #[case] key: &str,
    ) {
        let e = err(&text);
        assert!(e.starts_with(place), "{e}");
        assert!(e.contains(key), "{e}");
    }

    fn loaded(text: &str) -> Loaded {
        Loaded {
            path: "acme.toml".into(),
            sha256: String::new(),
            text: text.to_string(),
            declaration: parse(text, Path::new("acme.toml")).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    const EXTERNAL_RIG: &str = "[rig]\nname = \"b\"\n\n[dut]\nkind = \"external\"\nap = \"127.0.0.1:1\"\nbroker_host = \"127.0.0.1\"\ntls = false\n";

    #[test]
    fn a_claim_in_the_rig_file_too_is_refused_with_its_line() {
        let mut dut: DutSpec = toml::from_str::<toml::Table>(EXTERNAL_RIG)
            .ok()
            .and_then(|t| t.get("dut").cloned())
            .and_then(|d| d.try_into().ok())
            .unwrap_or_else(|| panic!("the test's rig parses"));
        let e = apply(&mut dut, &loaded(GOOD), EXTERNAL_RIG, Path::new("bench.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bench.toml:8: dut.tls"), "{e}");
        assert!(e.contains("plug.tls"), "{e}");
    }

    #[test]
    fn the_declaration_fills_an_external_plugs_claims() {
        let rig = EXTERNAL_RIG.replace("tls = false\n", "");
        let mut dut: DutSpec = toml::from_str::<toml::Table>(&rig)
            .ok()
            .and_then(|t| t.get("dut").cloned())
            .and_then(|d| d.try_into().ok())
            .unwrap_or_else(|| panic!("the test's rig parses"));
        assert!(!dut.power_claim());
        apply(&mut dut, &loaded(GOOD), &rig, Path::new("bench.toml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(dut.power_claim());
        assert_eq!(dut.claimed_accuracy_percent(), 1.5);
        let caps = dut.capabilities();
        assert!(caps.contains(&crate::rig::capabilities::Capability::Tls));
        assert!(caps.contains(&crate::rig::capabilities::Capability::OtaImage));
    }

    #[test]
    fn upgrade_images_are_refused_for_the_simulated_plug() {
        let rig = "[dut]\nkind = \"sim\"\n";
        let mut dut: DutSpec = toml::from_str::<toml::Table>(rig)
            .ok()
            .and_then(|t| t.get("dut").cloned())
            .and_then(|d| d.try_into().ok())
            .unwrap_or_else(|| panic!("the test's rig parses"));
        let e = apply(&mut dut, &loaded(GOOD), rig, Path::new("sim.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("upgrade.image"), "{e}");
    }

    #[test]
    fn the_shipped_declarations_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if p.extension().is_some_and(|e| e == "toml") {
                load(&p).unwrap_or_else(|e| panic!("{e:#}"));
                n += 1;
            }
        }
        assert!(n >= 2, "plugs/ holds the workspace's own plugs' declarations");
    }
}
