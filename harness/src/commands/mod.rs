//! What the command line runs: `run` (the conformance suite), `rig check`, `fuzz`.

pub mod fuzz;
pub mod rig_check;
pub mod run;
