//! Joining the plug's access point from the rig host before provisioning, and returning to
//! the bench network afterwards: NetworkManager through `nmcli` on a named interface, or
//! two commands. On a host with a second WiFi interface for the plug, the bench network is
//! never left and `leave` only disconnects that interface.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

use crate::command;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ApNetworkSpec {
    Nmcli {
        /// The WiFi interface that joins the plug (wlan0, wlx...).
        interface: String,
        /// The plug's SSID (the ESP32-C3 firmware's is MK112-XXXX or MK102-XXXX, from its MAC).
        ssid: String,
        /// None: an open access point, as the firmware's.
        #[serde(default)]
        password: Option<String>,
        /// The NetworkManager connection to bring back up on `interface` afterwards; None:
        /// just disconnect it (the bench network is on another interface).
        #[serde(default)]
        bench_connection: Option<String>,
        /// The nmcli program (a path, for tests or odd installs).
        #[serde(default = "nmcli")]
        program: String,
    },
    Command {
        /// Joins the plug's access point (the program and its arguments, run without a
        /// shell, within 40 s).
        join: Vec<String>,
        /// Returns to the bench network.
        leave: Vec<String>,
    },
}

fn nmcli() -> String {
    "nmcli".into()
}

/// nmcli waits for the association and DHCP; a plug's AP answers in a few seconds.
const NMCLI_WAIT_S: u64 = 30;

pub struct ApNetwork {
    spec: ApNetworkSpec,
    joined: Mutex<bool>,
}

impl ApNetwork {
    pub fn new(spec: ApNetworkSpec) -> ApNetwork {
        ApNetwork {
            spec,
            joined: Mutex::new(false),
        }
    }

    fn joined(&self) -> bool {
        *self.joined.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_joined(&self, v: bool) {
        *self.joined.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }

    /// Forgets having joined: after the plug's power cycle or reset its access point is
    /// new, and the next `join` must associate again.
    pub fn forget(&self) {
        self.set_joined(false);
    }

    /// Joins the plug's network, unless already joined.
    pub async fn join(&self) -> anyhow::Result<()> {
        if self.joined() {
            return Ok(());
        }
        let argv = match &self.spec {
            ApNetworkSpec::Nmcli {
                interface,
                ssid,
                password,
                program,
                ..
            } => {
                let mut a = vec![
                    program.clone(),
                    "--wait".into(),
                    NMCLI_WAIT_S.to_string(),
                    "device".into(),
                    "wifi".into(),
                    "connect".into(),
                    ssid.clone(),
                ];
                if let Some(p) = password {
                    a.extend(["password".into(), p.clone()]);
                }
                a.extend(["ifname".into(), interface.clone()]);
                a
            }
            ApNetworkSpec::Command { join, .. } => join.clone(),
        };
        command::run(&argv, Duration::from_secs(NMCLI_WAIT_S + 10)).await?;
        self.set_joined(true);
        Ok(())
    }

    /// Returns to the bench network, if the plug's was joined.
    pub async fn leave(&self) -> anyhow::Result<()> {
        if !self.joined() {
            return Ok(());
        }
        let argv = match &self.spec {
            ApNetworkSpec::Nmcli {
                interface,
                bench_connection,
                program,
                ..
            } => {
                let mut a = vec![program.clone(), "--wait".into(), NMCLI_WAIT_S.to_string()];
                match bench_connection {
                    Some(c) => a.extend(["connection".into(), "up".into(), c.clone()]),
                    None => a.extend(["device".into(), "disconnect".into(), interface.clone()]),
                }
                a
            }
            ApNetworkSpec::Command { leave, .. } => leave.clone(),
        };
        self.set_joined(false);
        command::run(&argv, Duration::from_secs(NMCLI_WAIT_S + 10)).await
    }

    /// Whether the driver can work here: nmcli runs and knows the interface as WiFi.
    pub async fn check(&self) -> anyhow::Result<String> {
        match &self.spec {
            ApNetworkSpec::Nmcli {
                interface, program, ..
            } => {
                let argv = [
                    program.clone(),
                    "-t".into(),
                    "-f".into(),
                    "DEVICE,TYPE".into(),
                    "device".into(),
                ];
                let out = command::run_output(&argv, Duration::from_secs(10)).await?;
                let found = out.lines().any(|l| {
                    let mut f = l.split(':');
                    f.next() == Some(interface.as_str()) && f.next() == Some("wifi")
                });
                anyhow::ensure!(found, "nmcli lists no WiFi interface {interface:?}");
                Ok(format!("{interface} is a WiFi interface"))
            }
            ApNetworkSpec::Command { join, leave } => {
                anyhow::ensure!(
                    !join.is_empty() && !leave.is_empty(),
                    "ap_network join/leave commands are empty"
                );
                Ok("join and leave commands set".into())
            }
        }
    }
}
