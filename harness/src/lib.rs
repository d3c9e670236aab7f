//! plugrig: a conformance harness for MK102/MK112 MQTT smart plugs.
//!
//! Read in this order: `runner` (what a run does), `world` (one scenario's rig), `steps`,
//! `protocol` (the harness's own model of the spec), then the parts of the rig: `rig`,
//! `broker`, `tap`, `app`, `ap_link`, `timeline`.

pub mod ap_link;
pub mod app;
pub mod bench;
pub mod broker;
pub mod capabilities;
pub mod capture;
pub mod coverage;
pub mod esp;
pub mod instruments;
pub mod measure;
pub mod ota;
pub mod protocol;
pub mod report;
pub mod rig;
pub mod runner;
pub mod steps;
pub mod tap;
pub mod timeline;
pub mod world;
