//! Upgrades and their results R1-R4 (spec 3.2.4, 3.3.4; PROTOCOL-NOTES "ota_upgrade_state").

use std::time::Duration;

use anyhow::{ensure, Context};
use cucumber::{given, then, when};
use oracle::payloads;
use rumqttc::Packet;

use crate::drivers::ota::server::Mode;
use crate::drivers::ota::UPDATE_HOST;
use crate::drivers::timeline::{Dir, Event, Mark};
use crate::scenario::world::PlugWorld;

fn offer(w: &mut PlugWorld, what: &str, mode: Mode) {
    let name = format!("{}-{what}", w.scenario_id);
    w.upgrade.catalogue = Some(w.ctx.update.add(&name, mode));
}

#[given("the update server offers a newer firmware image")]
async fn newer(w: &mut PlugWorld) -> anyhow::Result<()> {
    // One plug may serve the whole run (a bench): an image of a version it does not run.
    let running = firmware_version(w).await?;
    let (img, version) = w.ctx.images.good_for(&w.ctx.rig.file, &running).await?;
    ensure!(
        version != running,
        "the plug already runs version {running:?}, the version of the rig's upgrade image: declare an image with another version (upgrade.version), or a second one (upgrade.next_image, upgrade.next_version)"
    );
    w.upgrade.new_version = Some(version);
    offer(w, "good", Mode::Serve(img));
    Ok(())
}

#[given(expr = "the update server answers HTTP {int}")]
async fn status(w: &mut PlugWorld, code: u16) -> anyhow::Result<()> {
    offer(w, &format!("http{code}"), Mode::Status(code));
    Ok(())
}

#[given("the update server offers a truncated image")]
async fn truncated(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Whatever the plug's format, half an image announced as whole is not an image.
    let img = w.ctx.images.good(&w.ctx.rig.file).await?;
    let keep = img.len() / 2;
    offer(w, "truncated", Mode::Truncate(img, keep));
    Ok(())
}

#[given("the update server offers an image with a corrupt checksum")]
async fn corrupt(w: &mut PlugWorld) -> anyhow::Result<()> {
    let img = w.ctx.images.broken(&w.ctx.rig.file).await?;
    offer(w, "corrupt", Mode::Serve(img));
    Ok(())
}

#[given("the update server offers an image for another target")]
async fn other_target(w: &mut PlugWorld) -> anyhow::Result<()> {
    let img = w.ctx.images.other_target(&w.ctx.rig.file).await?;
    offer(w, "target", Mode::Serve(img));
    Ok(())
}

#[given("the update server stalls the transfer")]
async fn stall(w: &mut PlugWorld) -> anyhow::Result<()> {
    let img = w.ctx.images.good(&w.ctx.rig.file).await?;
    let keep = (64 + 1000).min(img.len() / 2);
    offer(w, "stall", Mode::Stall(img, keep));
    // The plug's own stall timeout is what this scenario waits for: its floor.
    let stall = w.ctx.rig.file.dut.ota_stall_s();
    w.protocol_wait(w.periods().app(stall));
    Ok(())
}

async fn upgrade(w: &mut PlugWorld, kind: u8, realm: &str, port: u16) -> anyhow::Result<()> {
    // The plug's own version before the upgrade: what a failed one must leave, and what a
    // successful one must change (its version string is the plug's own choice).
    w.upgrade.version_before = Some(firmware_version(w).await?);
    let catalogue = w.upgrade.catalogue.clone().unwrap_or_else(|| "none/".into());
    let topic = w.identity()?.app_topic("upgrade");
    let payload = serde_json::json!({ "type": kind, "realm": realm, "port": port, "catalogue": catalogue });
    w.mark = w.timeline.mark();
    w.command_mark = w.mark;
    w.app.publish(&topic, &payload.to_string()).await
}

#[when("the app requests the upgrade by IP address")]
async fn by_ip(w: &mut PlugWorld) -> anyhow::Result<()> {
    let a = w.ctx.update.addr;
    upgrade(w, 0, &a.ip().to_string(), a.port()).await
}

#[when("the app requests the upgrade by name")]
async fn by_name(w: &mut PlugWorld) -> anyhow::Result<()> {
    let port = w.ctx.update.addr.port();
    upgrade(w, 1, UPDATE_HOST, port).await
}

#[when(expr = "the app requests an upgrade from the name {word}")]
async fn by_unknown_name(w: &mut PlugWorld, name: String) -> anyhow::Result<()> {
    let port = w.ctx.update.addr.port();
    upgrade(w, 1, &name, port).await
}

#[when(expr = "the app requests an upgrade of type 0 from the realm {string}")]
async fn type0_realm(w: &mut PlugWorld, realm: String) -> anyhow::Result<()> {
    let port = w.ctx.update.addr.port();
    upgrade(w, 0, &realm, port).await
}

#[when("the app requests an upgrade from a port where nothing listens")]
async fn closed_port(w: &mut PlugWorld) -> anyhow::Result<()> {
    // A port of the rig's address that refuses connections, held for the rest of the
    // scenario so that no other socket of the host starts listening there meanwhile.
    let host = w.ctx.rig_host;
    let refusing = crate::drivers::reserved_port::ReservedPort::refusing(host)?;
    let port = refusing.port();
    w.upgrade.refusing_port = Some(refusing);
    // Three attempts one second apart before R3.
    w.protocol_wait(Duration::from_secs(2));
    upgrade(w, 0, &host.to_string(), port).await
}

/// The network's share of a stalled transfer before the plug's stall timer runs: connecting
/// to the update server and the first bytes (real time, not scaled).
const STALL_NETWORK_SHARE: Duration = Duration::from_millis(500);

#[then("the plug abandons the stalled transfer with ota_result R2 within 25 s")]
async fn stall_result(w: &mut PlugWorld) -> anyhow::Result<()> {
    // The [profile] rule's 25 s on the plug's clock (scaled, as the stall timer is an
    // application timer), plus the rig's allowance and the network's share.
    let p = w.periods();
    let within = p.ota_stall_within() + p.allowance + STALL_NETWORK_SHARE;
    let (payload, i, _) = w.wait_device(w.command_mark, "ota_upgrade_state", within).await?;
    let got = payloads::ota_result(&payload)?;
    ensure!(
        got == "R2",
        "ota_result {got}, expected R2\n{}",
        w.timeline.tail()
    );
    w.mark = i.after();
    Ok(())
}

#[then(expr = "the plug reports ota_result {word} within {int} s")]
async fn result(w: &mut PlugWorld, want: String, secs: u64) -> anyhow::Result<()> {
    let (p, i, _) = w
        .wait_device(w.command_mark, "ota_upgrade_state", Duration::from_secs(secs))
        .await?;
    let got = payloads::ota_result(&p)?;
    ensure!(
        got == want,
        "ota_result {got}, expected {want}\n{}",
        w.timeline.tail()
    );
    w.mark = i.after();
    Ok(())
}

async fn firmware_version(w: &mut PlugWorld) -> anyhow::Result<String> {
    let topic = w.identity()?.app_topic("read_firmware_infor");
    let from = w.timeline.mark();
    w.app.publish(&topic, "").await?;
    let within = w.periods().firmware_infor_within();
    let (p, _, _) = w.wait_device(from, "firmware_infor", within).await?;
    Ok(payloads::firmware_infor(&p)?.firmware_version)
}

#[then("the plug restarts and firmware_infor shows the new image's version")]
async fn restarted(w: &mut PlugWorld) -> anyhow::Result<()> {
    let version = w
        .upgrade
        .new_version
        .clone()
        .context("no newer image was offered")?;
    let before = w
        .upgrade
        .version_before
        .clone()
        .context("no version was read before the upgrade")?;
    ensure!(
        before != version,
        "the plug already runs version {before:?}, the version of the rig's upgrade image: declare an image with another version (upgrade.version), or a second one (upgrade.next_image, upgrade.next_version)"
    );
    // The restart: a new session after the upgrade request. R1 may come before the
    // restart or on the new session: the protocol does not say which.
    let (_, reconnect) = w
        .timeline
        .wait_for(
            w.command_mark,
            Duration::from_secs(30),
            "the plug to connect again after restarting on the new image",
            |e| matches!(e.event, Event::Mqtt(Dir::Up, Packet::Connect(_))).then_some(()),
        )
        .await?;
    w.mark = w.wait_connected(reconnect, Duration::from_secs(10)).await?;
    let got = firmware_version(w).await?;
    ensure!(
        got == version,
        "after the upgrade firmware_infor says {got:?}, expected the new image's {version:?} (it said {before:?} before)"
    );
    Ok(())
}

#[then("the plug still runs the firmware version it reported before")]
async fn still_old(w: &mut PlugWorld) -> anyhow::Result<()> {
    let version = w
        .upgrade
        .version_before
        .clone()
        .context("no version was read before the upgrade")?;
    // A plug may restart after a failed upgrade (on the old image): ask once its session
    // is up again.
    let restarted = w
        .timeline
        .snapshot()
        .iter()
        .enumerate()
        .skip(w.command_mark.index())
        .find_map(|(i, e)| matches!(e.event, Event::Mqtt(Dir::Up, Packet::Connect(_))).then_some(i));
    if let Some(i) = restarted {
        w.wait_connected(Mark::at(i), Duration::from_secs(10)).await?;
    }
    let got = firmware_version(w).await?;
    ensure!(
        got == version,
        "after a failed upgrade firmware_infor says {got:?}; before the upgrade it said {version:?}"
    );
    Ok(())
}

#[then("the update server saw the plug's request")]
async fn saw(w: &mut PlugWorld) -> anyhow::Result<()> {
    // http://{realm}:{port}/{catalogue}{image}: the path is "/", the catalogue as sent,
    // then the plug's own file name.
    let cat = w.upgrade.catalogue.clone().context("no catalogue was offered")?;
    let name = cat.trim_end_matches('/');
    let requests = w.ctx.update.requests(name);
    ensure!(
        !requests.is_empty(),
        "the update server got no request for /{cat}"
    );
    let prefix = format!("/{cat}");
    for line in &requests {
        let path = line.split_whitespace().nth(1).unwrap_or_default();
        ensure!(
            path.strip_prefix(&prefix).is_some_and(|file| !file.is_empty()),
            "the plug asked for {path:?}; the URL is http://{{realm}}:{{port}}/{{catalogue}}{{image}}, so the path must be {prefix:?} and a file name"
        );
    }
    Ok(())
}
