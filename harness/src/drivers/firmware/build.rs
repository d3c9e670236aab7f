//! Builds firmware/esp32c3 in release, as `.ci/run` does, and names the ELF.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

pub fn firmware_dir() -> PathBuf {
    crate::workspace::workspace_dir().join("firmware/esp32c3")
}

/// Runs `cargo build --release` in firmware/esp32c3 (its own workspace and target dir) and
/// returns the ELF. Fails with the fix when the target is not installed.
pub fn build_firmware() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(firmware_dir())
        .args(["build", "--release", "--message-format=json-render-diagnostics"])
        // The firmware has its own target dir; a caller's would mix host and device builds.
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .context("running cargo to build firmware/esp32c3")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("riscv32imc-unknown-none-elf") && stderr.contains("target may not be installed") {
            bail!(
                "the ESP32-C3 target is not installed: run `rustup target add riscv32imc-unknown-none-elf`"
            );
        }
        bail!("building firmware/esp32c3 failed ({}):\n{stderr}", out.status);
    }
    match crate::workspace::cargo_executable(&out.stdout, "plug-esp32c3") {
        Some(exe) => Ok(exe),
        None => bail!("cargo built firmware/esp32c3 but named no ELF"),
    }
}
