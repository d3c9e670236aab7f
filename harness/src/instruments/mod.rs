//! Instruments around the DUT: the reference power meter's driver (the same code on a
//! bench and on the simulated rig) and the virtual instruments that stand in for hardware.

pub mod ap_network;
pub mod lcus_relay;
pub mod pty;
pub mod scpi_analyzer;
pub mod sdm120;
pub mod serial_console;
pub mod virtual_lcus;
pub mod virtual_scpi;
pub mod virtual_sdm120;

/// One reading of a reference meter, in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    pub volts: f64,
    pub amps: f64,
    pub watts: f64,
}

/// What flows through the simulated plug now, from plug-sim's control channel: the truth
/// the virtual instruments report.
pub async fn sim_world_measure(control: std::net::SocketAddr) -> anyhow::Result<Measurement> {
    use anyhow::Context;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut s = tokio::net::TcpStream::connect(control).await?;
    s.write_all(b"status\n").await?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await?;
    let field = |k: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {k} in the status line {line:?}"))
    };
    Ok(Measurement {
        volts: field("volts=")?,
        amps: field("amps=")?,
        watts: field("watts=")?,
    })
}

/// The rig's reference meter, whichever kind.
pub enum MeterDriver {
    Sdm120(sdm120::Sdm120),
    Scpi(scpi_analyzer::ScpiAnalyzer),
}

impl MeterDriver {
    pub async fn measure(&mut self) -> anyhow::Result<Measurement> {
        match self {
            MeterDriver::Sdm120(m) => m.measure().await,
            MeterDriver::Scpi(m) => m.measure().await,
        }
    }
}

/// A virtual instrument kept alive for the scenario that uses it.
pub enum VirtualMeter {
    Sdm120(virtual_sdm120::VirtualSdm120),
    Scpi(virtual_scpi::VirtualScpi),
}

/// Opens the rig's reference meter. "virtual" meters read the simulated plug behind
/// `sim_control` and are returned too, to be kept alive as long as the driver.
pub async fn open_meter(
    spec: &crate::rig::Meter,
    sim_control: Option<std::net::SocketAddr>,
) -> anyhow::Result<(MeterDriver, Option<VirtualMeter>)> {
    use crate::rig::Meter;
    use anyhow::Context;
    let sim = || sim_control.context("a \"virtual\" meter needs the simulated plug");
    Ok(match spec {
        Meter::Sdm120 {
            port, address, baud, ..
        } if port == "virtual" => {
            let v = virtual_sdm120::VirtualSdm120::start(sim()?, *address)?;
            let driver = sdm120::Sdm120::open(&v.path, *baud, *address)?;
            (MeterDriver::Sdm120(driver), Some(VirtualMeter::Sdm120(v)))
        }
        Meter::Sdm120 {
            port, address, baud, ..
        } => (
            MeterDriver::Sdm120(sdm120::Sdm120::open(port, *baud, *address)?),
            None,
        ),
        Meter::Scpi { address, .. } if address == "virtual" => {
            let control = sim()?;
            let source: virtual_scpi::Source =
                std::sync::Arc::new(move || Box::pin(sim_world_measure(control)));
            let v = virtual_scpi::VirtualScpi::start(source).await?;
            let driver = scpi_analyzer::ScpiAnalyzer::connect_tcp(&v.addr.to_string()).await?;
            (MeterDriver::Scpi(driver), Some(VirtualMeter::Scpi(v)))
        }
        Meter::Scpi { address, baud, .. } if address.starts_with('/') => (
            MeterDriver::Scpi(scpi_analyzer::ScpiAnalyzer::open_serial(address, *baud).await?),
            None,
        ),
        Meter::Scpi { address, .. } => (
            MeterDriver::Scpi(scpi_analyzer::ScpiAnalyzer::connect_tcp(address).await?),
            None,
        ),
    })
}
