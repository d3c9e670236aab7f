//! firmware_infor on request (spec 3.2.2, 3.3.5).

use cucumber::{then, when};
use oracle::measure::Limits;
use oracle::payloads;

use crate::scenario::world::PlugWorld;

#[when(expr = "the app requests the firmware information with payload {string}")]
async fn request(w: &mut PlugWorld, payload: String) -> anyhow::Result<()> {
    w.app_command("read_firmware_infor", &payload).await
}

#[then("the plug publishes firmware_infor with its MAC")]
async fn published(w: &mut PlugWorld) -> anyhow::Result<()> {
    let within = w.periods().firmware_infor_within();
    let (payload, i, at) = w.wait_device(w.mark, "firmware_infor", within).await?;
    let latency = at.saturating_sub(w.time_of(w.mark)).as_secs_f64();
    w.measure(
        "firmware_infor_latency",
        "s",
        Limits::at_most(within.as_secs_f64()),
        latency,
        Some(at),
    )?;
    payloads::firmware_infor_of(&payload, &w.identity()?.mac)?;
    w.mark = i.after();
    Ok(())
}
