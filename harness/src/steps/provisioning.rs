//! Provisioning over the AP socket (spec 2, PROTOCOL-NOTES "AP socket").

use std::time::Duration;

use anyhow::{bail, ensure};
use cucumber::{given, then, when};
use oracle::ap::{self, MqttServer};

use crate::drivers::timeline::Mark;
use crate::scenario::world::PlugWorld;

/// The network a 4003 sends the plug to: the rig's WiFi (a secret on a bench: the
/// reports redact the password, `redact`).
pub const WIFI_SSID: &str = "plugrig-net";
pub const WIFI_PASSWORD: &str = "plugrig-pass";

/// How long a plug may take to reach the broker after an accepted 4003 (network time).
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

pub fn mqtt_server(w: &PlugWorld, qos: u8, keepalive: u16, clean: u8) -> MqttServer {
    // The plug reaches the tap on loopback (simulated) or at the rig's broker_host.
    let host = w.ctx.rig.file.dut.broker_host(w.tap.addr.ip());
    MqttServer {
        host,
        port: w.tap.addr.port(),
        connect_mode: 0,
        username: w.ctx.broker.username.clone(),
        password: w.ctx.broker.password.clone(),
        keepalive,
        qos,
        clean_session: clean,
        client_id: None,
    }
}

async fn request_identity(w: &mut PlugWorld) -> anyhow::Result<()> {
    let reply = w.request(&ap::device_info()).await?;
    let id = reply.identity()?;
    // Capabilities were chosen from the plug's claims: what is judged depends on them, so a
    // plug that is not what it claims is judged no further.
    anyhow::ensure!(
        id.measures_power() == w.power_claim,
        "the plug is not what it claims (rule declared-claims): {} says it {} power (device_type {:?}), but its 4001 reply says device_type {:?}",
        match &w.ctx.rig.file.declaration {
            Some(d) => format!("its declaration {}", d.path.display()),
            None => format!("the rig file {}", w.ctx.rig.path.display()),
        },
        if w.power_claim {
            "measures"
        } else {
            "does not measure"
        },
        if w.power_claim { "1" } else { "0" },
        id.device_type
    );
    w.app.subscribe(&format!("{}/device/#", id.prefix())).await?;
    w.identity = Some(id);
    w.last_reply = Some(reply);
    Ok(())
}

async fn send_mqtt(w: &mut PlugWorld, m: MqttServer) -> anyhow::Result<()> {
    let reply = w.request(&ap::mqtt_server(&m)).await?;
    w.provisioned = Some(m);
    w.last_reply = Some(reply);
    Ok(())
}

async fn send_wifi(w: &mut PlugWorld) -> anyhow::Result<()> {
    let reply = w
        .request(&ap::wifi(
            crate::steps::provisioning::WIFI_SSID,
            crate::steps::provisioning::WIFI_PASSWORD,
            3,
        ))
        .await?;
    w.last_reply = Some(reply);
    Ok(())
}

fn expect_ok(w: &PlugWorld, header: i64) -> anyhow::Result<()> {
    let r = w.last_reply.as_ref().ok_or_else(|| anyhow::anyhow!("no reply"))?;
    ensure!(
        r.code == 0 && r.header == Some(header),
        "expected code 0 for {header}, got: {}",
        r.raw
    );
    Ok(())
}

/// The whole app flow: 4001, 4002, 4003 on one connection, then wait for the broker.
pub async fn provision(w: &mut PlugWorld, qos: u8, keepalive: u16, clean: u8) -> anyhow::Result<Mark> {
    let m = mqtt_server(w, qos, keepalive, clean);
    provision_with(w, m, true).await
}

/// The app flow with a given 4002; waits for the broker session when `connect` is set.
/// Returns the timeline position where the plug's session came up (or where 4003 was sent).
pub async fn provision_with(w: &mut PlugWorld, m: MqttServer, connect: bool) -> anyhow::Result<Mark> {
    request_identity(w).await?;
    send_mqtt(w, m).await?;
    expect_ok(w, ap::MQTT_SERVER)?;
    let from = w.timeline.mark();
    send_wifi(w).await?;
    expect_ok(w, ap::WIFI)?;
    if connect {
        w.wait_connected(from, CONNECT_WITHIN).await
    } else {
        Ok(from)
    }
}

#[given("a factory-fresh plug")]
async fn fresh(w: &mut PlugWorld) -> anyhow::Result<()> {
    // The World started a plug with an empty flash (an external one was brought to AP
    // mode by the rig's strategy); its AP socket must accept a connection.
    w.ap().await?;
    Ok(())
}

#[given(expr = "a plug provisioned with QoS {int}, keepalive {int} and clean session {int}")]
async fn provisioned_with(w: &mut PlugWorld, qos: u8, keepalive: u16, clean: u8) -> anyhow::Result<()> {
    w.mark = provision(w, qos, keepalive, clean).await?;
    Ok(())
}

#[given("a provisioned plug connected to the broker")]
async fn provisioned(w: &mut PlugWorld) -> anyhow::Result<()> {
    // A bench plug the last scenario left so is taken over as it is (see `strategy`).
    if w.take_held().await? {
        return Ok(());
    }
    let p = crate::strategy::CONNECTED_PROFILE;
    w.mark = provision(w, p.qos, p.keepalive_s, p.clean_session).await?;
    Ok(())
}

#[when("the app requests the device information")]
async fn device_info(w: &mut PlugWorld) -> anyhow::Result<()> {
    request_identity(w).await
}

#[when(
    expr = "the app sends the broker configuration with QoS {int}, keepalive {int} and clean session {int}"
)]
async fn broker_config(w: &mut PlugWorld, qos: u8, keepalive: u16, clean: u8) -> anyhow::Result<()> {
    let m = mqtt_server(w, qos, keepalive, clean);
    send_mqtt(w, m).await
}

#[when("the app sends the network configuration")]
async fn network_config(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.mark = w.timeline.mark();
    send_wifi(w).await
}

#[then(expr = "the reply has code {int} and header {int}")]
async fn reply_code(w: &mut PlugWorld, code: i64, header: i64) -> anyhow::Result<()> {
    // A success reply carries result.header [spec]; an error reply echoes the request's
    // header only by this project's profile (checked by its own scenario, below).
    let r = w
        .last_reply
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no reply was received"))?;
    if r.code != code || (code == 0 && r.header != Some(header)) {
        bail!(
            "expected code {code} ({}) for a {header} request, got code {} ({}) with header {:?}: {}",
            ap::code_meaning(code),
            r.code,
            ap::code_meaning(r.code),
            r.header,
            r.raw
        );
    }
    Ok(())
}

#[then(expr = "the error reply echoes header {int}")]
async fn echoes(w: &mut PlugWorld, header: i64) -> anyhow::Result<()> {
    let r = w
        .last_reply
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no reply was received"))?;
    ensure!(
        r.header == Some(header),
        "the error reply's result.header is {:?}, the request's header was {header} [profile]: {}",
        r.header,
        r.raw
    );
    Ok(())
}

#[then("the reply carries the device identity")]
async fn reply_identity(w: &mut PlugWorld) -> anyhow::Result<()> {
    let r = w
        .last_reply
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no reply was received"))?;
    let id = r.identity()?;
    ensure!(!id.mac.is_empty(), "device_mac is empty");
    ensure!(
        ["cn", "us", "uk", "eu"].contains(&id.specifications.to_ascii_lowercase().as_str()),
        "device_specifications must be CN/US/UK/EU, got {:?}",
        id.specifications
    );
    Ok(())
}

#[then(expr = "the plug connects to the broker within {int} s")]
async fn connects(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    w.mark = w.wait_connected(w.mark, Duration::from_secs(secs)).await?;
    Ok(())
}
