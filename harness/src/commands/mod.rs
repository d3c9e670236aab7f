//! What the command line (`main.rs`) runs: `run` (the conformance suite), `rig check`,
//! `fuzz`, `image`; `place` finds the labgrid place a run or a check reserves.

pub mod fuzz;
pub mod image;
pub mod place;
pub mod rig_check;
pub mod run;
