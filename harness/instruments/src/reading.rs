//! One reading of a power meter, in SI units, and where the virtual meters take theirs from:
//! the simulated plug's true voltage, current and power, read through its control channel.

/// One reading of a reference meter, in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterReading {
    pub volts: f64,
    pub amps: f64,
    pub watts: f64,
}

/// What flows through the simulated plug now, from plug-sim's control channel: the truth
/// the virtual instruments report.
pub async fn sim_world_measure(control: std::net::SocketAddr) -> anyhow::Result<MeterReading> {
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
    Ok(MeterReading {
        volts: field("volts=")?,
        amps: field("amps=")?,
        watts: field("watts=")?,
    })
}
