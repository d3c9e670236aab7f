//! The conformance suite on the default simulated rig, inside `cargo test`.
//! `PLUGRIG_RIG=rigs/other.toml` picks another rig (CI runs the mosquitto rig this way).

use std::path::PathBuf;
use std::process::ExitCode;

use plugrig::commands::run::{self, RunOptions};

fn main() -> ExitCode {
    let rig = std::env::var_os("PLUGRIG_RIG")
        .map(PathBuf::from)
        .unwrap_or_else(run::default_rig);
    let rig = if rig.is_relative() {
        run::workspace_dir().join(rig)
    } else {
        rig
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = run::workspace_dir().join("target/plugrig-reports");
    let opts = RunOptions {
        report: Some(report),
        ..RunOptions::new(rig)
    };
    match rt.block_on(run::run(opts)) {
        Ok(s) => {
            println!("wall time {:.1} s", s.wall.as_secs_f64());
            println!("{}", s.line());
            if s.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("conformance: {e:#}");
            ExitCode::FAILURE
        }
    }
}
