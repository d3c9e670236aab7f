//! plugrig-instruments: the drivers of everything around a plug on a bench, each usable on
//! its own, and their virtual twins that stand in for hardware on the simulated rig.
//!
//! Read first: `meter` (the reference power meter, SDM120 over Modbus RTU or a SCPI
//! analyzer) and `actuators` (power and button traits, which `lcus_relay` implements). Then
//! `serial_console`, `ap_network` (joining the plug's access point with nmcli), `flash`
//! (espflash over serial, probe-rs over USB-JTAG, or a command) and `command` (running a
//! bench's own tools with a time limit). `port` says where a serial instrument is: a local
//! device, or a bench host's port over the network (`rfc2217://`, the telnet codec in
//! `rfc2217`, or raw `tcp://`). `virtual_*` and `pty` are the twins.
//!
//! It knows nothing of scenarios, rules or timelines: a driver takes its own spec (the part
//! of a rig file that describes it) and reports readings, lines or errors to its caller.

pub mod actuators;
pub mod ap_network;
pub mod command;
pub mod flash;
pub mod lcus_relay;
pub mod meter;
pub mod port;
pub mod pty;
pub mod reading;
pub mod rfc2217;
pub mod scpi_analyzer;
pub mod sdm120;
pub mod serial_console;
pub mod virtual_lcus;
pub mod virtual_scpi;
pub mod virtual_sdm120;

pub use meter::{MeterDriver, MeterSpec, VirtualMeter};
pub use reading::MeterReading;
