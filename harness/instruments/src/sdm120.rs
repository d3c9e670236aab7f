//! Eastron SDM120 / SDM230 over Modbus RTU (tokio-modbus): input registers, function 0x04,
//! each value an IEEE-754 float32 in two registers, high word first.
//! Registers: 0x0000 voltage (V), 0x0006 current (A), 0x000C active power (W).

use std::time::Duration;

use anyhow::{bail, Context};
use tokio_modbus::client::{Context as ModbusContext, Reader};
use tokio_modbus::prelude::{rtu, Slave};
use tokio_serial::SerialStream;

use crate::port::{PortAddress, SerialSettings};

use crate::reading::MeterReading;

pub const VOLTAGE: u16 = 0x0000;
pub const CURRENT: u16 = 0x0006;
pub const ACTIVE_POWER: u16 = 0x000C;

/// Accuracy class of the SDM120 (IEC 62053-21 class 1): 1 % of the reading.
pub const CLASS_PERCENT: f64 = 1.0;

pub fn f32_from_regs(hi: u16, lo: u16) -> f32 {
    f32::from_bits((u32::from(hi) << 16) | u32::from(lo))
}

pub fn regs_from_f32(v: f32) -> [u16; 2] {
    let b = v.to_bits();
    [(b >> 16) as u16, (b & 0xFFFF) as u16]
}

pub struct Sdm120 {
    ctx: ModbusContext,
}

impl Sdm120 {
    /// Opens the meter on a serial port (8N1, `baud`) at Modbus address `address`.
    pub fn open(path: &str, baud: u32, address: u8) -> anyhow::Result<Sdm120> {
        let builder = tokio_serial::new(path, baud).timeout(Duration::from_millis(500));
        let serial = SerialStream::open(&builder)
            .map_err(|e| anyhow::anyhow!("opening the meter's port {path}: {e}"))?;
        Ok(Sdm120 {
            ctx: rtu::attach_slave(serial, Slave(address)),
        })
    }

    /// Opens the meter on any port a rig names: a device path, `rfc2217://HOST:PORT` (8N1
    /// at `baud`, set through the telnet COM-port option) or `tcp://HOST:PORT`.
    pub async fn connect(port: &str, baud: u32, address: u8) -> anyhow::Result<Sdm120> {
        if !PortAddress::parse(port)?.is_network() {
            return Sdm120::open(port, baud, address);
        }
        let link = crate::port::open(port, SerialSettings::n81(baud))
            .await
            .context("the meter's port")?;
        Ok(Sdm120 {
            ctx: rtu::attach_slave(link, Slave(address)),
        })
    }

    async fn read_f32(&mut self, reg: u16) -> anyhow::Result<f32> {
        let r = tokio::time::timeout(Duration::from_secs(2), self.ctx.read_input_registers(reg, 2))
            .await
            .with_context(|| format!("the meter did not answer for register {reg:#06x} within 2 s"))?
            .with_context(|| format!("reading register {reg:#06x}"))?;
        match r {
            Ok(words) if words.len() == 2 => Ok(f32_from_regs(words[0], words[1])),
            Ok(words) => bail!("register {reg:#06x}: {} words where 2 were asked", words.len()),
            Err(e) => bail!("register {reg:#06x}: the meter answered with exception {e:?}"),
        }
    }

    pub async fn measure(&mut self) -> anyhow::Result<MeterReading> {
        let volts = f64::from(self.read_f32(VOLTAGE).await?);
        let amps = f64::from(self.read_f32(CURRENT).await?);
        let watts = f64::from(self.read_f32(ACTIVE_POWER).await?);
        if !(volts.is_finite() && amps.is_finite() && watts.is_finite()) {
            bail!("the meter reported a value that is not a number: {volts} V {amps} A {watts} W");
        }
        Ok(MeterReading { volts, amps, watts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_words_round_trip_high_word_first() {
        assert_eq!(regs_from_f32(230.0), [0x4366, 0x0000]);
        assert_eq!(f32_from_regs(0x4366, 0x0000), 230.0);
    }
}
