//! `DutSpec`, the rig file's `[dut]` (what the plug is; `drivers::dut::DutHandle` is the
//! plug a scenario drives). Every question about the DUT that the rig file answers, asked
//! of `[dut]` whatever its kind: what it claims (power monitoring, accuracy, capabilities),
//! the parameters it brings (console patterns, upgrade images, a known load), and where the
//! rig meets it (the tap's listening address, the broker host it is given, where the rig's
//! services listen). The rest of the harness asks these methods and never looks at the kind.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use instruments::ap_network::ApNetworkSpec;
use instruments::flash::FlashSpec;

use super::console::ConsolePatterns;
use super::DutSpec;
use crate::rig::capabilities::Capability;

/// Where a run's upgrade images come from.
#[derive(Debug, Clone)]
pub enum OtaSource {
    /// This project's format around a body: the simulated plug's own executable (None),
    /// or the rig's `ota_body`.
    Built { body: Option<PathBuf>, target: String },
    /// The plug's own format, verbatim.
    Verbatim {
        image: PathBuf,
        version: String,
        broken: Option<PathBuf>,
        /// The rig's second image and its version (`ota_next_image`).
        next: Option<(PathBuf, String)>,
    },
    /// The rig names no image.
    None,
}

/// plug-core's stall timeout (`Timing::default().ota_stall`; a test holds them equal).
const SIM_OTA_STALL_S: f64 = 15.0;

impl DutSpec {
    /// Checks the keys that only make sense together (a simulated plug's have defaults).
    pub fn validate(&self) -> anyhow::Result<()> {
        match self {
            DutSpec::Sim(_) => Ok(()),
            DutSpec::External(e) => e.validate(),
        }
    }

    /// Whether the plug claims power monitoring (device_type "1").
    pub fn power_claim(&self) -> bool {
        match self {
            DutSpec::Sim(s) => s.device_type == "1",
            DutSpec::External(e) => e.power_monitoring,
        }
    }

    /// The metering accuracy the plug claims, percent of reading.
    pub fn claimed_accuracy_percent(&self) -> f64 {
        match self {
            DutSpec::Sim(s) => s.claimed_accuracy_percent,
            DutSpec::External(e) => e.claimed_accuracy_percent,
        }
    }

    /// The load on the socket when the rig knows it without a load driver, watts.
    /// The plug's own stall timeout for an upgrade transfer, seconds of the plug's clock
    /// (to be divided by the time scale): the simulated plug's is plug-core's, an external
    /// plug's its rig key `ota_stall_s`.
    pub fn ota_stall_s(&self) -> f64 {
        match self {
            DutSpec::Sim(_) => SIM_OTA_STALL_S,
            DutSpec::External(e) => e.ota_stall_s,
        }
    }

    /// The simulated plug's test-only faults and variations as plug-sim's flags (they decide
    /// its behaviour as much as its binary does); empty for an external plug.
    pub fn sim_flags(&self) -> String {
        match self {
            DutSpec::Sim(s) => s
                .faults
                .iter()
                .map(|f| format!("--fault {f}"))
                .chain(s.variants.iter().map(|v| format!("--variant {v}")))
                .collect::<Vec<_>>()
                .join(" "),
            DutSpec::External(_) => String::new(),
        }
    }

    pub fn load_watts(&self) -> Option<f64> {
        match self {
            DutSpec::Sim(s) => Some(s.load_watts),
            DutSpec::External(e) => e.load_watts,
        }
    }

    /// How the plug's console reports a boot and the relay.
    pub fn console_patterns(&self) -> ConsolePatterns {
        match self {
            DutSpec::Sim(_) => ConsolePatterns::default(),
            DutSpec::External(e) => e.console_patterns(),
        }
    }

    /// Where the wire tap listens for the plug's broker connection.
    pub fn tap_listen(&self) -> String {
        match self {
            DutSpec::Sim(_) => "127.0.0.1:0".into(),
            DutSpec::External(e) => e.tap_listen.clone(),
        }
    }

    /// The broker host a 4002 gives the plug: the tap's own address on loopback, a bench's
    /// `broker_host` (the tap's address as the plug's network reaches it).
    pub fn broker_host(&self, tap: IpAddr) -> String {
        match self {
            DutSpec::Sim(_) => tap.to_string(),
            DutSpec::External(e) => e.broker_host.clone(),
        }
    }

    /// Where the update server and DNS listen, and the DNS port (0: any free one): loopback
    /// on the simulated rig; on a bench the rig's address on the plug's network, with DNS on
    /// port 53 when the plug resolves through it.
    pub fn services_at(&self) -> anyhow::Result<(IpAddr, u16)> {
        Ok(match self {
            DutSpec::Sim(_) => (IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            DutSpec::External(e) => (e.rig_address()?, if e.uses_rig_dns { e.dns_port } else { 0 }),
        })
    }

    /// Scenarios that may run at once: each simulated plug is its own; a bench has one plug.
    pub fn concurrency(&self, configured: usize) -> usize {
        match self {
            DutSpec::Sim(_) => configured,
            DutSpec::External(_) => 1,
        }
    }

    /// One line for the run's start: which plug.
    pub fn describe(&self) -> String {
        match self {
            DutSpec::Sim(s) => format!("simulated plug (device_type {})", s.device_type),
            DutSpec::External(e) => format!("external plug at {}", e.ap),
        }
    }

    /// Whether the rig's instruments are checked before the first scenario (a bench's are;
    /// the simulated rig's are created per scenario).
    pub fn checked_before_run(&self) -> bool {
        matches!(self, DutSpec::External(_))
    }

    /// The flasher that puts the workspace's firmware on the plug before the run, if any.
    pub fn flash(&self) -> Option<&FlashSpec> {
        match self {
            DutSpec::Sim(_) => None,
            DutSpec::External(e) => e.flash.as_ref(),
        }
    }

    /// How this host joins the plug's access point, when it must.
    pub fn ap_network(&self) -> Option<&ApNetworkSpec> {
        match self {
            DutSpec::Sim(_) => None,
            DutSpec::External(e) => e.ap_network.as_ref(),
        }
    }

    /// The plug's console port and baud rate, when the rig reads one.
    pub fn console_port(&self) -> Option<(String, u32)> {
        match self {
            DutSpec::Sim(_) => None,
            DutSpec::External(e) => e.console.clone().map(|p| (p, e.console_baud)),
        }
    }

    /// How long the plug may take to boot, seconds.
    pub fn boot_timeout_s(&self) -> u64 {
        match self {
            DutSpec::Sim(_) => 5,
            DutSpec::External(e) => e.boot_timeout_s,
        }
    }

    /// Calls `f` with each serial port of the DUT that names an instrument a rig farm's place
    /// provides (`prefix`, e.g. "place:"): the console and the relay ports. Refused where
    /// such a port cannot serve: espflash drives a local port's reset lines itself, and the
    /// simulated plug's console is its own pty.
    pub fn each_port(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &mut String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            DutSpec::External(e) => {
                if let Some(FlashSpec::Espflash { port, .. }) = &e.flash {
                    if port.starts_with(prefix) {
                        anyhow::bail!(
                            "dut.flash.port = {port:?}: espflash needs a local serial port (it drives the reset lines itself); on a shared bench flash on the bench host with kind = \"command\" (see docs/farm.md)"
                        );
                    }
                }
                if let Some(c) = e.console.as_mut() {
                    f("dut.console", c)?;
                }
                if let Some(r) = e.power_relay.as_mut() {
                    f("dut.power_relay.port", &mut r.port)?;
                }
                if let Some(r) = e.button_relay.as_mut() {
                    f("dut.button_relay.port", &mut r.port)?;
                }
                Ok(())
            }
            DutSpec::Sim(s) if s.console.starts_with(prefix) => anyhow::bail!(
                "dut.console = {:?}: the simulated plug's console is its own pty (\"pty\" or \"stdout\"); a place's console is for an external plug",
                s.console
            ),
            DutSpec::Sim(_) => Ok(()),
        }
    }

    /// The declaration named in `[dut] plug`, if any.
    pub fn plug_file(&self) -> Option<&std::path::Path> {
        match self {
            DutSpec::Sim(s) => s.plug.as_deref(),
            DutSpec::External(e) => e.plug.as_deref(),
        }
    }

    /// Where the upgrade images come from.
    pub fn ota_source(&self) -> OtaSource {
        match self {
            DutSpec::Sim(_) => OtaSource::Built {
                body: None,
                target: "sim".into(),
            },
            DutSpec::External(e) => match (&e.ota_image, &e.ota_version, &e.ota_body, &e.ota_target) {
                (Some(image), Some(version), _, _) => OtaSource::Verbatim {
                    image: image.clone(),
                    version: version.clone(),
                    broken: e.ota_broken_image.clone(),
                    next: e.ota_next_image.clone().zip(e.ota_next_version.clone()),
                },
                (_, _, Some(body), Some(target)) => OtaSource::Built {
                    body: Some(body.clone()),
                    target: target.clone(),
                },
                _ => OtaSource::None,
            },
        }
    }

    /// What the DUT and its drivers can do (the meter is the rig's, added by the caller).
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps = Vec::new();
        match self {
            DutSpec::Sim(s) => {
                // The simulated plug's control channel is its power switch, button and load.
                caps.extend([
                    Capability::Button,
                    Capability::PowerSwitch,
                    Capability::LoadControl,
                    Capability::SimulatedDut,
                    Capability::RigDns,
                ]);
                // plug-sim runs plug-core's TLS client; its declaration may say otherwise.
                if s.tls {
                    caps.push(Capability::Tls);
                }
                if s.console == "pty" {
                    caps.push(Capability::Console);
                }
            }
            DutSpec::External(e) => {
                if e.has_button() {
                    caps.push(Capability::Button);
                }
                if e.has_power_switch() {
                    caps.push(Capability::PowerSwitch);
                }
                if e.console.is_some() {
                    caps.push(Capability::Console);
                }
                if e.uses_rig_dns {
                    caps.push(Capability::RigDns);
                }
                if e.tls {
                    caps.push(Capability::Tls);
                }
            }
        }
        if self.power_claim() {
            caps.push(Capability::PowerMonitoring);
        }
        caps.extend(match self.ota_source() {
            // Only this project's format names a target, so only it can be made for another.
            OtaSource::Built { .. } => {
                vec![
                    Capability::OtaImage,
                    Capability::OtaBrokenImage,
                    Capability::OtaOtherTarget,
                ]
            }
            OtaSource::Verbatim { broken, .. } => {
                let mut c = vec![Capability::OtaImage];
                c.extend(broken.map(|_| Capability::OtaBrokenImage));
                c
            }
            OtaSource::None => Vec::new(),
        });
        caps
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_simulated_plugs_stall_timeout_is_plug_cores() {
        assert_eq!(
            super::SIM_OTA_STALL_S,
            plug_core::Timing::default().ota_stall.as_secs_f64()
        );
    }
}
