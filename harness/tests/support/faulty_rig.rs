//! The default simulated rig with deliberate faults (and conformant variations) switched on
//! in its plug: for tests that prove the suite catches what it should.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use plugrig::commands::run;

/// Writes `rigs/sim.toml` with `faults = [fault]` (and `variants = [variant]`) into `dir`.
pub fn rig_with_fault(dir: &Path, fault: &str, variant: Option<&str>) -> PathBuf {
    let text = run::default_rig_text().expect("default rig");
    let variants = variant
        .map(|v| format!("\nvariants = [\"{v}\"]"))
        .unwrap_or_default();
    let text = text.replace(
        "[dut]\nkind = \"sim\"",
        &format!("[dut]\nkind = \"sim\"\nfaults = [\"{fault}\"]{variants}"),
    );
    assert!(
        text.contains("faults = ["),
        "the default rig's [dut] starts with kind = \"sim\""
    );
    let path = dir.join(format!("{fault}-{}.toml", variant.unwrap_or("plain")));
    std::fs::write(&path, text).expect("write rig");
    path
}
