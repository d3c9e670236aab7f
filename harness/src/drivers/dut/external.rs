//! A black-box plug on a bench, driven through the rig file's instruments: relays or
//! commands for power and button, the AP network driver, the console.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use instruments::actuators::ButtonActuator;
use instruments::ap_network::ApNetwork;
use instruments::lcus_relay::LcusRelay;
use instruments::serial_console::SerialConsole;

use crate::drivers::timeline::Timeline;
use crate::rig::external::{ExternalDut, RelaySpec};

pub struct ExternalPlug {
    pub ap: SocketAddr,
    cfg: ExternalDut,
    power_relay: Option<LcusRelay>,
    button_relay: Option<LcusRelay>,
    ap_network: Option<ApNetwork>,
    _console: Option<SerialConsole>,
}

impl std::fmt::Debug for ExternalPlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExternalPlug(ap={})", self.ap)
    }
}

/// Runs an actuator command; `{ms}` is replaced in every argument.
async fn run(argv: &[String], ms: Option<u128>) -> anyhow::Result<()> {
    let args: Vec<String> = argv
        .iter()
        .map(|a| match ms {
            Some(ms) => a.replace("{ms}", &ms.to_string()),
            None => a.clone(),
        })
        .collect();
    instruments::command::run(&args, Duration::from_secs(60)).await
}

impl ExternalPlug {
    pub async fn open(cfg: &ExternalDut, timeline: Arc<Timeline>) -> anyhow::Result<ExternalPlug> {
        let ap = tokio::net::lookup_host(cfg.ap.as_str())
            .await
            .with_context(|| format!("dut.ap {:?}", cfg.ap))?
            .next()
            .with_context(|| format!("dut.ap {:?} has no address", cfg.ap))?;
        let console = cfg
            .console
            .clone()
            .map(|p| SerialConsole::start(p, cfg.console_baud, timeline.console_sink()));
        let relay = |r: &Option<RelaySpec>| {
            r.as_ref()
                .map(|r| LcusRelay::open(&r.port, r.baud, r.channel, r.closed_state))
                .transpose()
        };
        Ok(ExternalPlug {
            ap,
            cfg: cfg.clone(),
            power_relay: relay(&cfg.power_relay)?,
            button_relay: relay(&cfg.button_relay)?,
            ap_network: cfg.ap_network.clone().map(ApNetwork::new),
            _console: console,
        })
    }

    pub fn has_power_switch(&self) -> bool {
        self.cfg.has_power_switch()
    }

    /// Puts this host on the plug's access point (if the rig has a driver for that).
    pub async fn join_ap(&self) -> anyhow::Result<()> {
        match &self.ap_network {
            Some(n) => n.join().await.context("joining the plug's access point"),
            None => Ok(()),
        }
    }

    /// Back on the bench network, where the plug's broker connection arrives.
    pub async fn leave_ap(&self) -> anyhow::Result<()> {
        match &self.ap_network {
            Some(n) => n.leave().await.context("returning to the bench network"),
            None => Ok(()),
        }
    }

    pub fn has_button(&self) -> bool {
        self.cfg.has_button()
    }

    pub async fn set_power(&self, on: bool) -> anyhow::Result<()> {
        if let Some(n) = &self.ap_network {
            n.forget();
        }
        if let Some(r) = &self.power_relay {
            return r.set(on).await;
        }
        let cmd = if on {
            &self.cfg.power_on
        } else {
            &self.cfg.power_off
        };
        match cmd {
            Some(c) => run(c, None).await,
            None => bail!("the rig has no power {} command", if on { "on" } else { "off" }),
        }
    }

    pub async fn press(&self, hold: Duration) -> anyhow::Result<()> {
        if let Some(n) = &self.ap_network {
            n.forget();
        }
        if let Some(r) = &self.button_relay {
            return r.press(hold).await;
        }
        match &self.cfg.button_press {
            Some(c) => run(c, Some(hold.as_millis())).await,
            None => bail!("the rig has no button_press command"),
        }
    }
}
