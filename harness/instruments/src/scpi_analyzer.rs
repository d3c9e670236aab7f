//! A SCPI power analyzer (Yokogawa WT310-style) over TCP or a serial port: the numeric
//! items are set to voltage, current and active power of element 1, then
//! `:NUMeric:NORMal:VALue?` returns them as one comma-separated line.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::reading::MeterReading;

/// The analyzer's items: voltage, current and active power of element 1.
pub const SETUP: &str = ":NUMERIC:NORMAL:NUMBER 3;ITEM1 U,1;ITEM2 I,1;ITEM3 P,1";
pub const QUERY: &str = ":NUMERIC:NORMAL:VALUE?";

use crate::port::SerialLink as Link;

pub struct ScpiAnalyzer {
    io: BufReader<Box<dyn Link>>,
}

/// Parses `U,I,P` in the analyzer's number format; NAN/INF (no input, over range) are errors.
pub fn parse_values(line: &str) -> anyhow::Result<MeterReading> {
    let v: Vec<f64> = line
        .trim()
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<f64>()
                .with_context(|| format!("{x:?} in the analyzer's reply {line:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    if v.len() != 3 {
        bail!(
            "the analyzer returned {} values where 3 were set up: {line:?}",
            v.len()
        );
    }
    if v.iter().any(|x| !x.is_finite()) {
        bail!("the analyzer reports a value out of range: {line:?}");
    }
    Ok(MeterReading {
        volts: v[0],
        amps: v[1],
        watts: v[2],
    })
}

impl ScpiAnalyzer {
    pub async fn connect_tcp(addr: &str) -> anyhow::Result<ScpiAnalyzer> {
        let s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .with_context(|| format!("the analyzer at {addr} did not accept within 5 s"))?
            .with_context(|| format!("connecting to the analyzer at {addr}"))?;
        s.set_nodelay(true)?;
        Self::setup(Box::new(s)).await
    }

    /// The analyzer's serial port: a device path, `rfc2217://HOST:PORT` or `tcp://HOST:PORT`.
    pub async fn open_serial(path: &str, baud: u32) -> anyhow::Result<ScpiAnalyzer> {
        let link = crate::port::open(path, crate::port::SerialSettings::n81(baud))
            .await
            .context("the analyzer's port")?;
        Self::setup(link).await
    }

    async fn setup(link: Box<dyn Link>) -> anyhow::Result<ScpiAnalyzer> {
        let mut a = ScpiAnalyzer {
            io: BufReader::new(link),
        };
        a.send(SETUP).await?;
        Ok(a)
    }

    async fn send(&mut self, cmd: &str) -> anyhow::Result<()> {
        self.io
            .get_mut()
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .context("writing to the analyzer")
    }

    pub async fn measure(&mut self) -> anyhow::Result<MeterReading> {
        self.send(QUERY).await?;
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(2), self.io.read_line(&mut line))
            .await
            .context("the analyzer did not answer within 2 s")?
            .context("reading the analyzer's reply")?;
        if n == 0 {
            bail!("the analyzer closed the connection");
        }
        parse_values(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_values;

    #[test]
    fn replies_in_the_analyzers_number_format() {
        let m = parse_values("230.12E+00,0.4350E+00,100.05E+00\n").unwrap();
        assert_eq!((m.volts, m.amps, m.watts), (230.12, 0.435, 100.05));
        assert!(parse_values("230.1E+00,NAN,1.0E+00").is_err());
        assert!(parse_values("230.1E+00,0.1E+00").is_err());
        assert!(parse_values("hello").is_err());
    }
}
