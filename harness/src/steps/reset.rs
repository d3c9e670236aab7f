//! Factory reset: from the app, and by a 10 s button hold (spec 3.2.5, 3.3.3).

use std::time::Duration;

use anyhow::{bail, ensure};
use cucumber::{then, when};
use oracle::{ap, payloads};

use crate::drivers::ap_link::ApLink;
use crate::drivers::timeline::Event;
use crate::scenario::world::PlugWorld;

#[when(regex = r"^the app sends a reset with payload (.*)$")]
async fn app_reset(w: &mut PlugWorld, payload: String) -> anyhow::Result<()> {
    // `empty` stands for the Android app's empty payload.
    let payload = if payload == "empty" { "" } else { &payload };
    w.app_command("reset", payload).await
}

#[then("the plug publishes delete_device")]
async fn delete_device(w: &mut PlugWorld) -> anyhow::Result<()> {
    let (p, _, _) = w
        .wait_device(w.command_mark, "delete_device", Duration::from_secs(3))
        .await?;
    payloads::delete_device(&p)
}

#[then("the plug leaves the broker")]
async fn leaves(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.timeline
        .wait_for(
            w.command_mark,
            Duration::from_secs(5),
            "the plug's broker connection to close",
            |e| matches!(e.event, Event::TapConnection { open: false }).then_some(()),
        )
        .await?;
    Ok(())
}

#[then("no delete_device was published")]
async fn no_delete_device(w: &mut PlugWorld) -> anyhow::Result<()> {
    match w.published(w.command_mark, "delete_device", |_| Ok(()))?.first() {
        Some((at, _)) => bail!(
            "expected no delete_device after an app reset, saw one at {at:?}\n{}",
            w.timeline.tail()
        ),
        None => Ok(()),
    }
}

#[then("the plug answers on its AP socket again and has forgotten its configuration")]
async fn back_in_ap(w: &mut PlugWorld) -> anyhow::Result<()> {
    // The access point may still be coming up after the reset: retry what it resets.
    let addr = w.ap_addr().await?;
    let (mut link, r) = ApLink::request_fresh(
        addr,
        &ap::device_info(),
        w.timeline.clone(),
        Duration::from_secs(15),
    )
    .await?;
    ensure!(r.code == 0, "4001 after the reset: {}", r.raw);
    // Forgotten: a 4003 now lacks its 4002 and gets the order error.
    let r = link
        .request(&ap::wifi(
            crate::steps::provisioning::WIFI_SSID,
            crate::steps::provisioning::WIFI_PASSWORD,
            3,
        ))
        .await?;
    ensure!(
        r.code == 3,
        "4003 right after the reset should get code 3 (no broker configured), got {}",
        r.raw
    );
    w.ap = Some(link);
    Ok(())
}
