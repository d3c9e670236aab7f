//! The physical world around the simulated plug: mains, the load, the relay that gates it,
//! and the BL0942 chip that measures it. Rig actuators (the control channel) change it;
//! the firmware reads it through the chip's UART frames, as a real plug does.

use plug_core::bl0942::{Raw, IREF_E4, PREF, UREF_E4};
use tokio::sync::mpsc;

/// Locks the world; a panic elsewhere must not take it down with it.
pub fn lock(w: &std::sync::Mutex<World>) -> std::sync::MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
pub struct World {
    pub powered: bool,
    pub relay: bool,
    /// Resistive load plugged into the socket, in watts at `mains_volts`.
    pub load_watts: f64,
    pub mains_volts: f64,
    /// Relative gain error of the chip's measurement (0.005: reads 0.5 % high).
    pub gain_error: f64,
    /// Button presses go to the running firmware, when powered.
    pub button: Option<mpsc::UnboundedSender<bool>>,
}

impl World {
    pub fn new(load_watts: f64, mains_volts: f64, gain_error: f64) -> World {
        World {
            powered: true,
            relay: false,
            load_watts,
            mains_volts,
            gain_error,
            button: None,
        }
    }

    /// What flows through the plug now: (volts, amps, watts).
    pub fn flow(&self) -> (f64, f64, f64) {
        if !self.powered {
            return (0.0, 0.0, 0.0);
        }
        if !self.relay {
            return (self.mains_volts, 0.0, 0.0);
        }
        let amps = self.load_watts / self.mains_volts.max(1.0);
        (self.mains_volts, amps, self.load_watts)
    }

    /// The chip's registers for the present flow, with its gain error.
    pub fn chip_registers(&self) -> Raw {
        let (v, i, p) = self.flow();
        let g = 1.0 + self.gain_error;
        let reg = |x: f64, lsb: f64| (x * g * lsb).round().clamp(0.0, f64::from(0x00FF_FFFF)) as u32;
        Raw {
            v_rms: reg(v, UREF_E4 as f64 / 1e4),
            i_rms: reg(i, IREF_E4 as f64 / 1e4),
            watt: (p * g * PREF as f64).round().clamp(0.0, f64::from(0x007F_FFFF)) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chip_sees_the_load_only_through_the_relay() {
        let mut w = World::new(100.0, 230.0, 0.0);
        assert_eq!(w.chip_registers().reading().watts, 0);
        assert_eq!(w.chip_registers().reading().deci_volts, 2300);
        w.relay = true;
        let r = w.chip_registers().reading();
        assert_eq!((r.deci_volts, r.milliamps, r.watts), (2300, 435, 100));
    }

    #[test]
    fn gain_error_scales_every_reading() {
        let mut w = World::new(1000.0, 230.0, 0.01);
        w.relay = true;
        let r = w.chip_registers().reading();
        assert_eq!((r.deci_volts, r.watts), (2323, 1010));
    }
}
