//! connect_mode 1 (TLS) and 0 (TCP), as the wire tap saw each connection open (spec 2,
//! 4002; PROTOCOL-NOTES "MQTT session"; the tap's side is `drivers::tap::tls`).

use anyhow::{bail, ensure};
use cucumber::{given, then};
use oracle::observation::Event;

use crate::scenario::world::PlugWorld;
use crate::steps::provisioning::{mqtt_server, provision_with};

#[given(expr = "a plug provisioned over TLS with QoS {int}, keepalive {int} and clean session {int}")]
async fn provisioned_tls(w: &mut PlugWorld, qos: u8, keepalive: u16, clean: u8) -> anyhow::Result<()> {
    let mut m = mqtt_server(w, qos, keepalive, clean);
    m.connect_mode = 1;
    w.mark = provision_with(w, m, true).await?;
    Ok(())
}

#[then("every connection of the plug to the broker opened with a TLS ClientHello")]
async fn all_tls(w: &mut PlugWorld) -> anyhow::Result<()> {
    let openings = w.look(|s| s.openings());
    ensure!(
        !openings.is_empty(),
        "the tap saw no connection from the plug\n{}",
        w.timeline.tail()
    );
    if let Some((i, _)) = openings.iter().find(|(_, tls)| !tls) {
        bail!(
            "provisioned with connect_mode 1, the plug opened connection {} of {} in clear (entry {i}): MQTT must not leave the plug unencrypted\n{}",
            openings.iter().position(|(j, _)| j == i).unwrap_or(0) + 1,
            openings.len(),
            w.timeline.tail()
        );
    }
    Ok(())
}

#[then("the tap completed a TLS handshake with the plug")]
async fn handshake(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Any version and suite the plug negotiates is its choice; the report shows them.
    let done = w.look(|s| s.find(|e| matches!(e.event, Event::TlsHandshake { .. }).then_some(())));
    ensure!(
        done.is_some(),
        "no TLS handshake with the plug completed on the tap\n{}",
        w.timeline.tail()
    );
    Ok(())
}

#[then("no connection of the plug to the broker started TLS")]
async fn none_tls(w: &mut PlugWorld) -> anyhow::Result<()> {
    let openings = w.look(|s| s.openings());
    ensure!(
        !openings.is_empty(),
        "the tap saw no connection from the plug\n{}",
        w.timeline.tail()
    );
    ensure!(
        openings.iter().all(|(_, tls)| !tls),
        "provisioned with connect_mode 0, the plug started TLS\n{}",
        w.timeline.tail()
    );
    Ok(())
}
