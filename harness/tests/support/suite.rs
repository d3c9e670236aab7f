//! Running the suite from a test. cucumber swaps the process's panic hook while it runs, so
//! a test binary whose tests each run the suite holds them to one at a time
//! (`one_at_a_time`) and puts the test's own hook back after each run (`run_suite`), or a
//! failed assertion after the run would print nothing.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

use plugrig::commands::run::{self, RunOptions, Summary};
use plugrig::sync::Locked;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Holds this test binary to one suite run at a time while the guard lives.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.locked()
}

/// One run of the suite on a runtime of its own; the test's panic hook back afterwards.
pub fn run_suite(opts: RunOptions) -> Summary {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt.block_on(run::run(opts)).expect("the run starts");
    let _ = std::panic::take_hook();
    s
}

/// [`run_suite`], one at a time.
pub fn run_alone(opts: RunOptions) -> Summary {
    let _one = one_at_a_time();
    run_suite(opts)
}
