//! plugrig: a conformance harness for MK102/MK112 MQTT smart plugs; this crate is the runner.
//! The protocol's judge is the `plugrig-oracle` crate (`oracle`), the instrument drivers the
//! `plugrig-instruments` crate (`instruments`).
//!
//! The layers, from the bottom up: each uses only the ones listed before it.
//! - `provenance`, `workspace`, `sync`: where a verdict comes from (hashes, versions, times),
//!   where this checkout's files are, and locks a failed step cannot poison;
//! - `rig`: the rig file and the plug's declaration: schema, the DUT's spec, console
//!   patterns, the farm section, the capabilities a rig gives;
//! - `drivers`: what touches the outside in a run: the DUT handle, the broker, the wire tap
//!   (with its TLS and capture), the app, the AP link, the OTA services, the firmware
//!   builder and flasher, the labgrid farm client; and the `timeline` they all write to;
//! - `strategy`: bringing a plug to a known state, and handing it over between scenarios;
//! - `scenario`: one scenario's world, its record, the vocabulary steps read the timeline
//!   with (`observe`), the timing model (`jitter`), the feature order, benchmark figures;
//! - `steps`: one module per domain, each step the Gherkin line it implements;
//! - `report`: HTML, JUnit, Cucumber JSON, verdict.txt, the signed statement, coverage,
//!   redaction of secrets, the run's summary and closing line;
//! - `ledger`: the run ledger across runs (SQLite or PostgreSQL), trends and comparisons;
//! - `commands`: what the CLI (`main.rs`) runs: `run` (the suite, with retries and
//!   quarantine), `rig check`, `fuzz`.

pub mod provenance;
pub mod sync;
pub mod workspace;

pub mod rig;

pub mod drivers;

pub mod strategy;

pub mod scenario;

pub mod steps;

pub mod report;

pub mod ledger;

pub mod commands;
