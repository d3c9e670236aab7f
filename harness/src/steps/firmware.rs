//! firmware_infor on request (spec 3.2.2, 3.3.5).

use anyhow::ensure;
use cucumber::{then, when};
use oracle::payloads;

use crate::world::PlugWorld;

#[when(expr = "the app requests the firmware information with payload {string}")]
async fn request(w: &mut PlugWorld, payload: String) -> anyhow::Result<()> {
    let topic = w.identity()?.app_topic("read_firmware_infor");
    w.mark = w.timeline.len();
    w.app.publish(&topic, &payload).await
}

#[then("the plug publishes firmware_infor with its MAC")]
async fn published(w: &mut PlugWorld) -> anyhow::Result<()> {
    let within = w.periods().firmware_infor_within();
    let (payload, i, at) = w.wait_device(w.mark, "firmware_infor", within).await?;
    let asked = w
        .timeline
        .snapshot()
        .get(w.mark)
        .map(|e| e.at)
        .unwrap_or_default();
    w.measure(
        "firmware_infor_latency",
        "s",
        oracle::measure::Limits::at_most(within.as_secs_f64()),
        at.saturating_sub(asked).as_secs_f64(),
        Some(at),
    )?;
    let f = payloads::firmware_infor(&payload)?;
    let mac = &w.identity()?.mac;
    ensure!(
        oracle::same_mac(&f.device_mac, mac),
        "firmware_infor.device_mac {:?}, the 4001 reply said {mac:?}",
        f.device_mac
    );
    ensure!(
        !f.firmware_version.is_empty(),
        "firmware_infor.firmware_version is empty"
    );
    w.mark = i + 1;
    Ok(())
}
