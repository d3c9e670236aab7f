//! plugrig: a conformance harness for MK102/MK112 MQTT smart plugs; this crate is the runner.
//! The protocol's judge is the `plugrig-oracle` crate (`oracle`), the instrument drivers the
//! `plugrig-instruments` crate (`instruments`).
//!
//! Read in this order, from the bottom up (each layer uses only the ones before it):
//! - `rig`: the rig file's schema and every question it answers about the DUT;
//! - `reserved_port` (ports held for the rig's own listeners);
//! - `timeline` (one scenario's observations, with waits), `dut` (the plug a scenario
//!   drives), `broker`, `tap`, `app`, `ap_link`, `ota`, `capture`, `firmware`;
//! - `strategy`: bringing a bench plug to a known state between scenarios;
//! - `world`: one scenario's rig, and `observe`, the vocabulary steps read the timeline with;
//! - `steps`: one module per domain, each step the Gherkin line it implements;
//! - `report`, `retry` (which failures a retry may run again), `quarantine` (known
//!   failures with an expiry), `redact` (secrets kept out of reports and captures),
//!   `statement` (a signed in-toto statement of the verdicts), `runner`, the CLI (`main.rs`);
//! - `farm`: running on a bench reserved from a labgrid coordinator (`--place`).

pub mod ap_link;
pub mod app;
pub mod bench;
pub mod broker;
pub mod capabilities;
pub mod capture;
pub mod coverage;
pub mod dut;
pub mod farm;
pub mod firmware;
pub mod fuzz;
pub mod jitter;
pub mod ledger;
pub mod observe;
pub mod ota;
pub mod provenance;
pub mod quarantine;
pub mod redact;
pub mod report;
pub mod reserved_port;
pub mod retry;
pub mod rig;
pub mod rig_check;
pub mod runner;
pub mod scenario_order;
pub mod statement;
pub mod steps;
pub mod strategy;
pub mod tap;
pub mod tap_tls;
pub mod timeline;
pub mod workspace;
pub mod world;
