//! One scenario: its world (the rig as the steps see it), its record, the vocabulary steps
//! read the timeline with, the timing model, the order features run in, and the figures a
//! scenario reports to `cargo bench`.

pub mod figures;
pub mod jitter;
pub mod observe;
pub mod order;
pub mod record;
pub mod world;
