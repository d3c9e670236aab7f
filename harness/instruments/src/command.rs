//! Rig drivers that are commands (labgrid's ExternalPowerDriver): an argv, run to the end,
//! its failure reported with its stderr.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::Command;

/// Runs `argv` and waits for it, at most `limit`.
pub async fn run(argv: &[String], limit: Duration) -> anyhow::Result<()> {
    run_output(argv, limit).await.map(drop)
}

/// Runs `argv` and returns its stdout.
pub async fn run_output(argv: &[String], limit: Duration) -> anyhow::Result<String> {
    let (prog, rest) = argv.split_first().context("a rig command is empty")?;
    let out = tokio::time::timeout(limit, Command::new(prog).args(rest).kill_on_drop(true).output())
        .await
        .with_context(|| format!("rig command {argv:?} did not finish within {} s", limit.as_secs()))?
        .with_context(|| format!("running rig command {argv:?}"))?;
    if !out.status.success() {
        bail!(
            "rig command {argv:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
