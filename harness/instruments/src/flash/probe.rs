//! Flashing over the ESP32-C3's built-in USB-JTAG with the probe-rs library (cargo feature
//! `probe-rs`: it adds about a minute to a cold build, so the default build leaves it out).

use anyhow::{anyhow, bail};
use probe_rs::flashing::DownloadOptions;
use probe_rs::probe::list::Lister;
use probe_rs::probe::{DebugProbeSelector, Probe};
use probe_rs::Permissions;

fn open(selector: Option<&str>) -> anyhow::Result<Probe> {
    let lister = Lister::new();
    if let Some(s) = selector {
        let sel: DebugProbeSelector = s.parse().map_err(|e| anyhow!("flash.probe {s:?}: {e}"))?;
        return lister
            .open(sel)
            .map_err(|e| anyhow!("debug probe {s} cannot be opened: {e}"));
    }
    match lister.list_all().as_slice() {
        [] => bail!("no debug probe attached (an ESP32-C3's USB-JTAG shows up as 303a:1001)"),
        [one] => one
            .open()
            .map_err(|e| anyhow!("debug probe {} cannot be opened: {e}", one.identifier)),
        many => bail!(
            "{} debug probes attached: name one with flash.probe = \"VID:PID:SERIAL\"",
            many.len()
        ),
    }
}

pub fn check(selector: Option<&str>) -> anyhow::Result<String> {
    let probe = open(selector)?;
    Ok(format!("probe {} opens", probe.get_name()))
}

pub fn flash(selector: Option<&str>, segments: &[(u32, Vec<u8>)]) -> anyhow::Result<()> {
    let probe = open(selector)?;
    let mut session = probe
        .attach("esp32c3", Permissions::default())
        .map_err(|e| anyhow!("attaching to the ESP32-C3: {e}"))?;
    let mut loader = session.target().flash_loader();
    for (addr, data) in segments {
        loader
            .add_data(u64::from(*addr), data)
            .map_err(|e| anyhow!("segment at {addr:#x}: {e}"))?;
    }
    loader
        .commit(&mut session, DownloadOptions::default())
        .map_err(|e| anyhow!("flashing over USB-JTAG failed: {e}"))?;
    session
        .core(0)
        .and_then(|mut c| c.reset())
        .map_err(|e| anyhow!("resetting the ESP32-C3: {e}"))
}
