//! Instruments around the DUT: the reference power meter's driver (the same code on a
//! bench and on the simulated rig) and the virtual instruments that stand in for hardware.

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
