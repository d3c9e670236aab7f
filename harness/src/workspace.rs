//! Where this workspace's parts are: its root (features, rigs, firmware), the default rig,
//! and the executables cargo builds from it.

use std::path::{Path, PathBuf};

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn default_rig() -> PathBuf {
    workspace_dir().join("rigs/sim.toml")
}

/// The default rig's text with its plug declaration named by absolute path, for tests and
/// tools that write an edited copy elsewhere (a relative path is the rig file's own).
pub fn default_rig_text() -> std::io::Result<String> {
    let text = std::fs::read_to_string(default_rig())?;
    let plugs = workspace_dir().join("plugs");
    Ok(text.replace("\"../plugs/", &format!("\"{}/", plugs.display())))
}

/// The executable cargo built for target `name`, from the JSON messages of
/// `cargo build --message-format=json-render-diagnostics` on its stdout.
pub fn cargo_executable(stdout: &[u8], name: &str) -> Option<std::path::PathBuf> {
    String::from_utf8_lossy(stdout).lines().find_map(|line| {
        let v = serde_json::from_str::<serde_json::Value>(line).ok()?;
        let built = v["reason"] == "compiler-artifact" && v["target"]["name"] == name;
        built.then(|| v["executable"].as_str().map(std::path::PathBuf::from))?
    })
}
