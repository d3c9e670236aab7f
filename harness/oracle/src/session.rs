//! The plug's MQTT session (spec 2.2, PROTOCOL-NOTES "MQTT session"): what its CONNECT must
//! carry, how fast it may retry a broker that refuses or is gone, how long it may stay silent.

use std::time::Duration;

use anyhow::ensure;
use rumqttc::Connect;

use crate::ap::MqttServer;
use crate::measure::{Limits, Measurements};

/// The back-off bounds [profile]: no tighter than one attempt a second, no looser than one
/// a minute (with 100 ms for the rig's own scheduling at the tight end).
pub const RETRY_MIN: Duration = Duration::from_millis(900);
pub const RETRY_MAX: Duration = Duration::from_secs(61);

/// The CONNECT against what the plug was provisioned with: MQTT 3.1.1 [app], the
/// credentials, keepalive and clean session [spec], the client id or the plug's MAC in any
/// spelling when none was given [app].
pub fn check_connect(c: &Connect, m: &MqttServer, mac: &str) -> anyhow::Result<()> {
    ensure!(
        c.protocol == rumqttc::Protocol::V4,
        "CONNECT is not MQTT 3.1.1 (protocol level 4) [app]: {:?}",
        c.protocol
    );
    let Some(login) = &c.login else {
        anyhow::bail!("CONNECT carries no username/password");
    };
    ensure!(
        login.username == m.username,
        "CONNECT username {:?}, provisioned {:?}",
        login.username,
        m.username
    );
    ensure!(
        login.password == m.password,
        "CONNECT password differs from the provisioned one"
    );
    ensure!(
        c.keep_alive == m.keepalive,
        "CONNECT keepalive {}, provisioned {}",
        c.keep_alive,
        m.keepalive
    );
    ensure!(
        c.clean_session == (m.clean_session == 1),
        "CONNECT clean_session {}, provisioned {}",
        c.clean_session,
        m.clean_session
    );
    match m.client_id.as_deref().filter(|c| !c.is_empty()) {
        Some(want) => ensure!(
            c.client_id == want,
            "CONNECT client id {:?}, provisioned {want:?} [app]",
            c.client_id
        ),
        // "Empty or absent means the plug uses its MAC" [app]: in whatever spelling.
        None => ensure!(
            crate::same_mac(&c.client_id, mac),
            "CONNECT client id {:?}, expected the plug's MAC {mac:?} [app]",
            c.client_id
        ),
    }
    Ok(())
}

/// Each gap between connection attempts within [`RETRY_MIN`, `RETRY_MAX`], recorded.
pub fn judge_retry_gaps(attempts: &[Duration], m: &mut Measurements) -> anyhow::Result<()> {
    let limits = Limits::range(RETRY_MIN.as_secs_f64(), RETRY_MAX.as_secs_f64());
    for pair in attempts.windows(2) {
        let gap = pair[1].saturating_sub(pair[0]);
        ensure!(
            m.record("reconnect_attempt_gap", "s", limits, gap.as_secs_f64(), pair[1]),
            "connection attempts {gap:?} apart: the plug must retry no faster than once a second and no slower than once a minute"
        );
    }
    Ok(())
}

/// The plug's longest silence: between two of its packets, or from the last one to `now`.
pub fn longest_silence(packets_up: &[Duration], now: Duration) -> anyhow::Result<Duration> {
    ensure!(
        packets_up.len() >= 2,
        "too few packets from the plug to judge its keepalive"
    );
    let last = packets_up.last().copied().unwrap_or_default();
    Ok(packets_up
        .windows(2)
        .map(|p| p[1].saturating_sub(p[0]))
        .max()
        .unwrap_or_default()
        .max(now.saturating_sub(last)))
}
