//! What touches the outside in a run. Each driver writes what it sees to the scenario's
//! `timeline`; none judges it (the oracle does, from the timeline).

pub mod ap_link;
pub mod app;
pub mod broker;
pub mod dut;
pub mod farm;
pub mod firmware;
pub mod ota;
pub mod reserved_port;
pub mod tap;
pub mod timeline;
