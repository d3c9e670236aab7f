//! Per-domain state of a scenario: what one family of steps keeps between its steps, apart
//! from what every step reads (the timeline, the marks, the plug's identity).

use crate::drivers::reserved_port::ReservedPort;
use crate::drivers::timeline::Mark;

/// The metering steps' (`steps::metering`).
#[derive(Default)]
pub struct MeteringState {
    /// The reference meter's driver, opened by the first metering step.
    pub meter: Option<instruments::MeterDriver>,
    /// The simulated rig's virtual meter behind it.
    pub virtual_meter: Option<instruments::VirtualMeter>,
    /// The load a load driver set in this scenario, watts.
    pub known_load: Option<f64>,
}

/// The upgrade steps' (`steps::ota`).
#[derive(Default)]
pub struct UpgradeState {
    /// The update-server catalogue this scenario offers.
    pub catalogue: Option<String>,
    /// The firmware version the plug reported before an upgrade was requested.
    pub version_before: Option<String>,
    /// The version of the newer image this scenario offers.
    pub new_version: Option<String>,
    /// A port where nothing listens, held while the plug is sent to it (R3).
    pub refusing_port: Option<ReservedPort>,
}

/// The switch steps' (`steps::switch`), and the hand-over between scenarios.
#[derive(Default)]
pub struct RelayState {
    /// Where on the timeline the relay's state became known, and that state.
    pub known: Option<(Mark, bool)>,
    /// The relay state a plug taken over in its session last reported (in the scenario
    /// before): nothing is published again until it changes.
    pub carried: Option<bool>,
}
