//! A stand-in for a third-party plug: plug-sim started by hand (on loopback, or inside the
//! virtual bench's plug namespace) and driven by plugrig only as `kind = "external"`,
//! through what a bench offers: its AP address, command drivers for power and button (a
//! shell line to plug-sim's control channel), its console on a pty, and an upgrade image.
//! With `--variant` switches it makes the legitimate choices plug-sim does not (see
//! plug-core's `variations` module), so the black-box path is proven on a plug that
//! differs from the reference.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running stand-in, killed when dropped.
pub struct StandIn {
    child: Child,
    /// Its AP socket, `host:port`.
    pub ap: String,
    /// Its control channel, `host:port`.
    pub control: String,
    /// Its console pty, with `--console pty`.
    pub console: Option<String>,
    _state: tempfile::TempDir,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plug-sim executable of this workspace (built once).
pub fn plug_sim_binary() -> PathBuf {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sim: plugrig::rig::sim::SimDut = toml::from_str("").expect("defaults");
    rt.block_on(plugrig::drivers::dut::sim::binary(&sim))
        .expect("plug-sim builds")
}

impl StandIn {
    /// Starts `cmd` (plug-sim, or `ip netns exec NS plug-sim`) with a fresh state dir and
    /// `args`, and reads its ready line.
    pub fn start(mut cmd: Command, args: &[String]) -> StandIn {
        let state = tempfile::tempdir().expect("tempdir");
        let mut child = cmd
            .arg("--state-dir")
            .arg(state.path())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("plug-sim starts");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut ready)
            .expect("ready line");
        let field = |k: &str| {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(str::to_string)
        };
        StandIn {
            ap: field("ap=").unwrap_or_else(|| panic!("no ap= in {ready:?}")),
            control: field("control=").unwrap_or_else(|| panic!("no control= in {ready:?}")),
            console: field("console="),
            child,
            _state: state,
        }
    }

    /// A command driver: one control-channel line, as a TOML array, succeeding when
    /// plug-sim answers `ok`. `{ms}` passes through for the button's hold time.
    pub fn command(&self, what: &str) -> String {
        let (host, port) = self.control.rsplit_once(':').expect("host:port");
        format!(
            r#"["bash", "-c", "exec 3<>/dev/tcp/{host}/{port}; echo '{what}' >&3; head -1 <&3 | grep -q ^ok"]"#
        )
    }

    /// The `[dut]` keys of an external rig driving this stand-in: AP, power, button,
    /// console; the caller adds the broker host and what differs.
    pub fn dut_keys(&self) -> String {
        let mut s = format!(
            "kind = \"external\"\nap = \"{}\"\npower_on = {}\npower_off = {}\nbutton_press = {}\n",
            self.ap,
            self.command("power on"),
            self.command("power off"),
            self.command("button press {ms}"),
        );
        if let Some(c) = &self.console {
            s.push_str(&format!("console = \"{c}\"\n"));
        }
        s
    }
}

/// An upgrade image in the vendor format of plug-core's `vendor-image` variation, written
/// here from its description (`firmware/core/src/ota/vendor_image.rs`), not with its code:
/// "VNDR", the version's length and bytes, the body's length (u32 LE), the body, and a
/// CRC-32 (IEEE) of all that before it (u32 LE).
pub fn vendor_image(version: &str, body: &[u8]) -> Vec<u8> {
    let mut img = b"VNDR".to_vec();
    img.push(u8::try_from(version.len()).expect("a short version"));
    img.extend_from_slice(version.as_bytes());
    img.extend_from_slice(&u32::try_from(body.len()).expect("a small body").to_le_bytes());
    img.extend_from_slice(body);
    let crc = plugrig::drivers::ota::format::crc32(&img);
    img.extend_from_slice(&crc.to_le_bytes());
    img
}

/// Writes a good and a broken vendor image of `version` into `dir`; returns the rig keys
/// that offer them.
pub fn vendor_image_keys(dir: &Path, version: &str) -> String {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let good = vendor_image(version, &body);
    let mut broken = good.clone();
    let mid = broken.len() / 2;
    broken[mid] ^= 0x5A;
    let (g, b) = (dir.join("vendor-good.img"), dir.join("vendor-broken.img"));
    std::fs::write(&g, good).expect("write image");
    std::fs::write(&b, broken).expect("write image");
    format!(
        "ota_image = \"{}\"\nota_version = \"{version}\"\nota_broken_image = \"{}\"\n",
        g.display(),
        b.display()
    )
}

/// The console patterns of the `console-format` variation (`[ms] RELAY -> ON`,
/// `*** BOOT plug-sim <version> ***`).
pub const VARIANT_CONSOLE_KEYS: &str = r#"console_boot = '^\*\*\* BOOT '
console_relay_on = 'RELAY -> ON\b'
console_relay_off = 'RELAY -> OFF\b'
"#;

/// The rest of an external rig: the embedded broker, and `[run]`.
pub const BROKER_AND_RUN: &str = r#"
[broker]
kind = "embedded"
username = "plugrig"
password = "plugrig-secret"
"#;
