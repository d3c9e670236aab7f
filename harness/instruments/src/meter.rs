//! The reference power meter, whichever kind: its rig-file description, one driver type over
//! the kinds, and the virtual meters of the simulated rig (reading the simulated plug's load
//! through its control channel).

use serde::Deserialize;

use crate::reading::{sim_world_measure, MeterReading};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum MeterSpec {
    /// Eastron SDM120/SDM230 over Modbus RTU (the same input registers for volts, amps and
    /// watts; `kind = "sdm230"` names the same driver).
    #[serde(alias = "sdm230")]
    Sdm120 {
        /// A serial port path, `rfc2217://HOST:PORT` or `tcp://HOST:PORT` (a bench host's
        /// ser2net), or "virtual": the simulated rig's virtual SDM120 on a pty.
        port: String,
        /// The meter's Modbus slave address.
        #[serde(default = "modbus_address")]
        address: u8,
        /// The serial line's baud rate (8N1), as set on the meter.
        #[serde(default = "sdm_baud")]
        baud: u32,
        /// The meter's accuracy class, percent of reading.
        #[serde(default = "sdm_class")]
        class_percent: f64,
    },
    /// A SCPI power analyzer (WT310-style).
    Scpi {
        /// "host:port" for TCP, a serial port path (starting with /), `rfc2217://HOST:PORT`
        /// (its serial port behind ser2net), or "virtual": a virtual analyzer on loopback
        /// reading the simulated load.
        address: String,
        /// The baud rate when `address` is a serial port.
        #[serde(default = "sdm_baud")]
        baud: u32,
        /// The analyzer's accuracy, percent of reading.
        class_percent: f64,
    },
}

fn modbus_address() -> u8 {
    1
}
fn sdm_baud() -> u32 {
    9600
}
fn sdm_class() -> f64 {
    crate::sdm120::CLASS_PERCENT
}

impl MeterSpec {
    /// The meter's accuracy, percent of reading.
    pub fn class_percent(&self) -> f64 {
        match self {
            MeterSpec::Sdm120 { class_percent, .. } | MeterSpec::Scpi { class_percent, .. } => *class_percent,
        }
    }
}

/// The rig's reference meter, whichever kind.
pub enum MeterDriver {
    Sdm120(crate::sdm120::Sdm120),
    Scpi(crate::scpi_analyzer::ScpiAnalyzer),
}

impl MeterDriver {
    pub async fn measure(&mut self) -> anyhow::Result<MeterReading> {
        match self {
            MeterDriver::Sdm120(m) => m.measure().await,
            MeterDriver::Scpi(m) => m.measure().await,
        }
    }
}

/// A virtual instrument kept alive for the scenario that uses it.
pub enum VirtualMeter {
    Sdm120(crate::virtual_sdm120::VirtualSdm120),
    Scpi(crate::virtual_scpi::VirtualScpi),
}

/// Opens the rig's reference meter. "virtual" meters read the simulated plug behind
/// `sim_control` and are returned too, to be kept alive as long as the driver.
pub async fn open_meter(
    spec: &MeterSpec,
    sim_control: Option<std::net::SocketAddr>,
) -> anyhow::Result<(MeterDriver, Option<VirtualMeter>)> {
    use anyhow::Context;
    let sim = || sim_control.context("a \"virtual\" meter needs the simulated plug");
    Ok(match spec {
        MeterSpec::Sdm120 {
            port, address, baud, ..
        } if port == "virtual" => {
            let v = crate::virtual_sdm120::VirtualSdm120::start(sim()?, *address)?;
            let driver = crate::sdm120::Sdm120::open(&v.path, *baud, *address)?;
            (MeterDriver::Sdm120(driver), Some(VirtualMeter::Sdm120(v)))
        }
        MeterSpec::Sdm120 {
            port, address, baud, ..
        } => (
            MeterDriver::Sdm120(crate::sdm120::Sdm120::connect(port, *baud, *address).await?),
            None,
        ),
        MeterSpec::Scpi { address, .. } if address == "virtual" => {
            let control = sim()?;
            let source: crate::virtual_scpi::Source =
                std::sync::Arc::new(move || Box::pin(sim_world_measure(control)));
            let v = crate::virtual_scpi::VirtualScpi::start(source).await?;
            let driver = crate::scpi_analyzer::ScpiAnalyzer::connect_tcp(&v.addr.to_string()).await?;
            (MeterDriver::Scpi(driver), Some(VirtualMeter::Scpi(v)))
        }
        MeterSpec::Scpi { address, baud, .. } if address.starts_with('/') || address.contains("://") => (
            MeterDriver::Scpi(crate::scpi_analyzer::ScpiAnalyzer::open_serial(address, *baud).await?),
            None,
        ),
        MeterSpec::Scpi { address, .. } => (
            MeterDriver::Scpi(crate::scpi_analyzer::ScpiAnalyzer::connect_tcp(address).await?),
            None,
        ),
    })
}
