//! A black-box DUT: any plug that claims the protocol, reached at its AP address, with
//! actuators that are commands or relay channels (as labgrid's ExternalPowerDriver), and
//! everything the protocol leaves to the plug given as its own parameters (console
//! patterns, upgrade images and versions, the bench's address). One physical plug cannot be
//! fresh per scenario: `strategy` brings it to AP mode before each one, and after each
//! scenario plugrig sends it `app/reset`.

use anyhow::bail;
use instruments::ap_network::ApNetworkSpec;
use instruments::flash::FlashSpec;
use serde::Deserialize;

use crate::rig::console::{self, ConsolePatterns, Pattern};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalDut {
    /// The plug's declaration (`rig::declaration`), relative to the rig file.
    #[serde(default)]
    pub plug: Option<std::path::PathBuf>,
    /// The plug's AP socket: 192.168.4.1:8266 on a real plug, once this host has joined the
    /// plug's access point.
    pub ap: String,
    /// The address the plug is told (in 4002) to reach plugrig's wire tap at.
    pub broker_host: String,
    /// Where the wire tap listens (the plug must be able to reach it).
    #[serde(default = "tap_listen")]
    pub tap_listen: String,
    /// Commands that switch the plug's mains on and off (argv).
    #[serde(default)]
    pub power_on: Option<Vec<String>>,
    /// The command that switches the plug's mains off (argv): a power switch needs both
    /// commands, or `power_relay`.
    #[serde(default)]
    pub power_off: Option<Vec<String>>,
    /// A command that presses the button; `{ms}` in an argument becomes the hold time.
    #[serde(default)]
    pub button_press: Option<Vec<String>>,
    /// An LCUS USB relay channel in the plug's mains lead (instead of the power commands).
    /// Power and button may be two channels of one board: they share its port.
    #[serde(default)]
    pub power_relay: Option<RelaySpec>,
    /// An LCUS USB relay channel wired across the plug's button (instead of the command).
    #[serde(default)]
    pub button_relay: Option<RelaySpec>,
    /// The plug's serial console, if wired.
    #[serde(default)]
    pub console: Option<String>,
    /// The serial console's baud rate.
    #[serde(default = "console_baud")]
    pub console_baud: u32,
    /// Whether the plug claims power monitoring (device_type "1").
    #[serde(default)]
    pub power_monitoring: bool,
    /// The accuracy the plug claims for its metering, percent of reading.
    #[serde(default = "claimed_accuracy")]
    pub claimed_accuracy_percent: f64,
    /// A fixed load on the plug's socket, its true power in watts (measured once): without
    /// a reference meter, readings are checked against it.
    #[serde(default)]
    pub load_watts: Option<f64>,
    /// For plugs built here: an application image the plug accepts over the air (the body
    /// of this project's OTA image format) and the target it is built for. plugrig wraps it
    /// in the format's header with a newer version, and can make a corrupt copy and one for
    /// another target.
    #[serde(default)]
    pub ota_body: Option<std::path::PathBuf>,
    /// The target `ota_body` is built for (this project's image format names it); the two
    /// go together.
    #[serde(default)]
    pub ota_target: Option<String>,
    /// For any plug: an upgrade image in the plug's own format, served verbatim whatever
    /// file name the plug asks for under the catalogue, and the version `firmware_infor`
    /// must show after installing it. Takes the place of ota_body/ota_target.
    #[serde(default)]
    pub ota_image: Option<std::path::PathBuf>,
    /// The version `firmware_infor` must show after installing `ota_image`; the two go
    /// together.
    #[serde(default)]
    pub ota_version: Option<String>,
    /// Optionally, a deliberately broken image in the plug's format (for the corrupt-image
    /// R2 case; without it, and without ota_body, that scenario is skipped).
    #[serde(default)]
    pub ota_broken_image: Option<std::path::PathBuf>,
    /// Optionally, a second image in the plug's format and the version it carries: one plug
    /// serves the whole run and each R1 scenario must change its version, so a scenario
    /// whose plug already runs ota_version is offered this one.
    #[serde(default)]
    pub ota_next_image: Option<std::path::PathBuf>,
    /// The version `ota_next_image` carries; the two go together, and it must differ from
    /// `ota_version`.
    #[serde(default)]
    pub ota_next_version: Option<String>,
    /// The plug resolves names through plugrig's DNS (the bench's DHCP points it there).
    #[serde(default)]
    pub uses_rig_dns: bool,
    /// The plug connects over TLS when provisioned with connect_mode 1 (the `tls`
    /// capability): the TLS scenarios run, and a plug that refuses them fails them.
    #[serde(default)]
    pub tls: bool,
    /// This host's address on the plug's network: the update server and the DNS server
    /// listen there, and upgrade realms name it. Default: broker_host, when it is an IP
    /// address.
    #[serde(default)]
    pub rig_address: Option<std::net::IpAddr>,
    /// The DNS server's port (with uses_rig_dns): 53, where a plug's resolver asks.
    #[serde(default = "dns_port")]
    pub dns_port: u16,
    /// Flash the workspace's ESP32-C3 firmware onto the plug before the run.
    #[serde(default)]
    pub flash: Option<FlashSpec>,
    /// Join the plug's access point from this host before provisioning.
    #[serde(default)]
    pub ap_network: Option<ApNetworkSpec>,
    /// Console lines, as regular expressions: a boot, the relay switching on, and off.
    /// Defaults: this workspace's firmware ("boot fw=", "relay state=on", "relay state=off").
    #[serde(default = "console::default_boot")]
    pub console_boot: Pattern,
    /// The console line of the relay switching on, a regular expression.
    #[serde(default = "console::default_relay_on")]
    pub console_relay_on: Pattern,
    /// The console line of the relay switching off, a regular expression.
    #[serde(default = "console::default_relay_off")]
    pub console_relay_off: Pattern,
    /// Seconds from power-on or flashing to the boot line.
    #[serde(default = "boot_timeout")]
    pub boot_timeout_s: u64,
    /// The plug's own stall timeout for an upgrade transfer, seconds of the plug's clock
    /// (divided by `rig.time_scale` as every protocol period): a transfer with no progress
    /// for this long is abandoned with R2. The floor of the stalled-transfer scenario in
    /// the benchmark's figures; the [profile] rule it is judged by allows 25 s.
    #[serde(default = "ota_stall")]
    pub ota_stall_s: f64,
}

fn ota_stall() -> f64 {
    // This workspace's firmware (plug-core's `Timing`).
    15.0
}

fn dns_port() -> u16 {
    53
}
fn boot_timeout() -> u64 {
    20
}

/// One channel of an LCUS relay board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySpec {
    /// The board's serial port: a device path, `rfc2217://HOST:PORT` or `tcp://HOST:PORT`
    /// (`place:NAME` on a farm rig). Channels of one board share it.
    pub port: String,
    /// The relay channel, from 1.
    pub channel: u8,
    /// The board's baud rate.
    #[serde(default = "relay_baud")]
    pub baud: u32,
    /// The state byte that closes the contact: 1 on most boards, 0 on inverted ones.
    #[serde(default = "one")]
    pub closed_state: u8,
}

fn relay_baud() -> u32 {
    9600
}
fn one() -> u8 {
    1
}

impl ExternalDut {
    pub fn has_power_switch(&self) -> bool {
        self.power_relay.is_some() || (self.power_on.is_some() && self.power_off.is_some())
    }

    pub fn has_button(&self) -> bool {
        self.button_relay.is_some() || self.button_press.is_some()
    }

    pub fn console_patterns(&self) -> ConsolePatterns {
        ConsolePatterns {
            boot: self.console_boot.clone(),
            relay_on: self.console_relay_on.clone(),
            relay_off: self.console_relay_off.clone(),
        }
    }

    /// Where the rig's services listen for this plug (see `rig_address`).
    pub fn rig_address(&self) -> anyhow::Result<std::net::IpAddr> {
        match self.rig_address {
            Some(a) => Ok(a),
            None => self.broker_host.parse().map_err(|_| {
                anyhow::anyhow!(
                    "dut.broker_host {:?} is not an IP address: give dut.rig_address, this host's address on the plug's network",
                    self.broker_host
                )
            }),
        }
    }

    /// Checks the keys that only make sense together.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.ota_image.is_some() != self.ota_version.is_some() {
            bail!("dut.ota_image and dut.ota_version go together: the version is what firmware_infor must show after installing the image");
        }
        if self.ota_image.is_some() && (self.ota_body.is_some() || self.ota_target.is_some()) {
            bail!("dut.ota_image replaces dut.ota_body/ota_target: give one or the other");
        }
        if self.ota_next_image.is_some() != self.ota_next_version.is_some() {
            bail!("dut.ota_next_image and dut.ota_next_version go together");
        }
        if self.ota_next_image.is_some() && self.ota_image.is_none() {
            bail!("dut.ota_next_image is a second image after dut.ota_image: give that too");
        }
        if self.ota_next_version.is_some() && self.ota_next_version == self.ota_version {
            bail!(
                "dut.ota_next_version must differ from dut.ota_version: an upgrade must change the version"
            );
        }
        if self.ota_body.is_some() != self.ota_target.is_some() {
            bail!("dut.ota_body and dut.ota_target go together");
        }
        self.rig_address().map(drop)
    }
}

fn tap_listen() -> String {
    "127.0.0.1:0".into()
}
fn console_baud() -> u32 {
    115_200
}
fn claimed_accuracy() -> f64 {
    2.0
}
