//! `[dut] kind = "sim"`: the simulated plug built from this workspace, one process per
//! scenario (`dut::sim` runs it).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimDut {
    /// The plug's declaration (`rig::declaration`), relative to the rig file.
    #[serde(default)]
    pub plug: Option<PathBuf>,
    /// The plug-sim executable; absent: build it from this workspace (`cargo build -p
    /// plug-sim`, same profile as the harness) once per run.
    #[serde(default)]
    pub binary: Option<PathBuf>,
    /// "1": with power monitoring, "0": without.
    #[serde(default = "device_type")]
    pub device_type: String,
    /// The load plugged into the simulated socket, watts.
    #[serde(default = "load_watts")]
    pub load_watts: f64,
    /// The simulated metering chip's relative gain error.
    #[serde(default = "gain_error")]
    pub gain_error: f64,
    /// The version firmware_infor reports for plug-sim's factory image
    /// (`plug-sim --firmware-version`), at most 16 bytes.
    #[serde(default = "firmware_version")]
    pub firmware_version: String,
    /// The accuracy the plug claims for its metering, percent of reading; the tolerance
    /// against the reference meter is this plus the meter's class.
    #[serde(default = "claimed_accuracy")]
    pub claimed_accuracy_percent: f64,
    /// Deliberate protocol violations for the simulated plug (`plug-sim --fault`): for
    /// testing the suite itself. Never set in a rig that judges firmware.
    #[serde(default)]
    pub faults: Vec<String>,
    /// Conformant choices other than plug-sim's own (`plug-sim --variant`): for testing
    /// the suite on a plug that differs from the reference. Test-only, like `faults`.
    #[serde(default)]
    pub variants: Vec<String>,
    /// The seed of plug-sim's intermittent faults (`late-heartbeat-sometimes`): the same
    /// seed, the same draw. Test-only, like `faults`.
    #[serde(default)]
    pub fault_seed: u64,
    /// "pty": the console on a pseudo-terminal, read with the serial console driver (as a
    /// bench reads a device's USB-serial port); "stdout": from the process's stdout.
    #[serde(default = "console")]
    pub console: String,
    /// Whether the plug claims TLS: plug-sim runs plug-core's TLS client, so yes unless
    /// its declaration says otherwise (not a rig key: a claim).
    #[serde(skip, default = "yes")]
    pub tls: bool,
}

fn yes() -> bool {
    true
}

fn console() -> String {
    "stdout".into()
}

fn claimed_accuracy() -> f64 {
    2.0
}

fn device_type() -> String {
    "1".into()
}
fn load_watts() -> f64 {
    60.0
}
fn gain_error() -> f64 {
    0.004
}
fn firmware_version() -> String {
    "000001".into()
}
