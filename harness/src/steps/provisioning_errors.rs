//! Bad input on the AP socket gets the documented code and the plug keeps serving
//! (spec section 1; PROTOCOL-NOTES "AP socket", error codes and their order).

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use cucumber::{then, when};
use oracle::ap;
use serde_json::Value;

use super::provisioning::mqtt_server;
use crate::drivers::ap_link::{ApLink, ConnectionLost};
use crate::scenario::world::PlugWorld;

fn with_field(mut v: Value, field: &str, raw: Option<&str>) -> anyhow::Result<Value> {
    let o = v.as_object_mut().context("request is an object")?;
    match raw {
        Some(raw) => {
            let val: Value =
                serde_json::from_str(raw).with_context(|| format!("{raw:?} is not a JSON value"))?;
            o.insert(field.to_string(), val);
        }
        None => {
            o.remove(field);
        }
    }
    Ok(v)
}

/// Sends `text` in one write, exactly as given, and keeps the reply.
async fn send_text(w: &mut PlugWorld, text: &str) -> anyhow::Result<()> {
    let link = w.ap().await?;
    link.send_raw(text.as_bytes()).await?;
    let reply = link.read_reply(Duration::from_secs(5)).await?;
    w.last_reply = Some(reply);
    Ok(())
}

async fn send(w: &mut PlugWorld, v: Value) -> anyhow::Result<()> {
    let reply = w.request(&v).await?;
    w.last_reply = Some(reply);
    Ok(())
}

fn good_4002(w: &PlugWorld) -> Value {
    ap::mqtt_server(&mqtt_server(w, 1, 60, 1))
}

#[when(regex = r"^the app sends the broker configuration with (\w+) set to (\S+)$")]
async fn mqtt_with(w: &mut PlugWorld, field: String, raw: String) -> anyhow::Result<()> {
    let v = with_field(good_4002(w), &field, Some(&raw))?;
    // A provisioned clientId is what the CONNECT must then carry.
    if field == "clientId" {
        let mut m = mqtt_server(w, 1, 60, 1);
        m.client_id = v.get("clientId").and_then(Value::as_str).map(str::to_string);
        w.provisioned = Some(m);
    }
    send(w, v).await
}

#[when(regex = r"^the app sends the broker configuration with (\w+) set to (\S+) and (\w+) set to (\S+)$")]
async fn mqtt_with_two(
    w: &mut PlugWorld,
    f1: String,
    v1: String,
    f2: String,
    v2: String,
) -> anyhow::Result<()> {
    // Two faults in one request: which code comes back shows the order they are checked in.
    let v = with_field(good_4002(w), &f1, Some(&v1))?;
    let v = with_field(v, &f2, Some(&v2))?;
    send(w, v).await
}

#[when(regex = r"^the app sends the broker configuration without (\w+) and with (\w+) set to (\S+)$")]
async fn mqtt_without_and_with(
    w: &mut PlugWorld,
    gone: String,
    field: String,
    raw: String,
) -> anyhow::Result<()> {
    let v = with_field(good_4002(w), &gone, None)?;
    let v = with_field(v, &field, Some(&raw))?;
    send(w, v).await
}

#[when(expr = "the app sends the broker configuration after {int} unknown fields")]
async fn many_unknown_fields(w: &mut PlugWorld, n: usize) -> anyhow::Result<()> {
    // serde_json keeps keys sorted: write the object by hand so the unknown ones come
    // first, where a reader that keeps only so many members would lose the known ones.
    let known = good_4002(w).to_string();
    let extra: String = (0..n).map(|i| format!("\"x_vendor_{i}\":{i},")).collect();
    let text = known.replacen('{', &format!("{{{extra}"), 1);
    send_text(w, &text).await
}

#[when(regex = r"^the app sends the broker configuration without (\w+)$")]
async fn mqtt_without(w: &mut PlugWorld, field: String) -> anyhow::Result<()> {
    let v = with_field(good_4002(w), &field, None)?;
    send(w, v).await
}

#[when(regex = r"^the app sends the network configuration with (\w+) set to (.+)$")]
async fn wifi_with(w: &mut PlugWorld, field: String, raw: String) -> anyhow::Result<()> {
    let v = with_field(
        ap::wifi(
            crate::steps::provisioning::WIFI_SSID,
            crate::steps::provisioning::WIFI_PASSWORD,
            3,
        ),
        &field,
        Some(&raw),
    )?;
    send(w, v).await
}

#[when(regex = r"^the app sends the network configuration without (\w+)$")]
async fn wifi_without(w: &mut PlugWorld, field: String) -> anyhow::Result<()> {
    let v = with_field(
        ap::wifi(
            crate::steps::provisioning::WIFI_SSID,
            crate::steps::provisioning::WIFI_PASSWORD,
            3,
        ),
        &field,
        None,
    )?;
    send(w, v).await
}

#[when(regex = r"^the app sends the raw text (.+)$")]
async fn raw(w: &mut PlugWorld, text: String) -> anyhow::Result<()> {
    send_text(w, &text).await
}

#[when("the app sends the device information request split over two writes")]
async fn split(w: &mut PlugWorld) -> anyhow::Result<()> {
    let text = ap::device_info().to_string();
    let (a, b) = text.split_at(text.len() / 2);
    let link = w.ap().await?;
    link.send_raw(a.as_bytes()).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    link.send_raw(b.as_bytes()).await?;
    let reply = link.read_reply(Duration::from_secs(5)).await?;
    w.last_reply = Some(reply);
    Ok(())
}

#[when("the app sends the device information request with a trailing NUL")]
async fn nul(w: &mut PlugWorld) -> anyhow::Result<()> {
    // [profile] a robust reader tolerates a trailing newline or NUL.
    let text = format!("{}\0", ap::device_info());
    send_text(w, &text).await
}

#[when("the app sends the device information request with a trailing newline")]
async fn newline(w: &mut PlugWorld) -> anyhow::Result<()> {
    let text = format!("{}\n", ap::device_info());
    send_text(w, &text).await
}

#[when(expr = "the app sends {int} bytes that never complete an object")]
async fn oversized(w: &mut PlugWorld, n: usize) -> anyhow::Result<()> {
    let mut text = String::from("{\"host\":\"");
    text.extend(std::iter::repeat_n('a', n.saturating_sub(text.len())));
    // [profile] "answers what it can (oversized input: a code-1 reply, or none), drops the
    // connection": a close without a reply is one of the two conformant answers.
    w.last_reply = None;
    w.ap_closed = false;
    let link = w.ap().await?;
    let sent = link.send_raw(text.as_bytes()).await;
    let replied = match sent {
        Ok(()) => link.read_reply(Duration::from_secs(5)).await,
        Err(e) => Err(e),
    };
    match replied {
        Ok(r) => w.last_reply = Some(r),
        Err(e) if e.is::<ConnectionLost>() => {
            w.ap = None;
            w.ap_closed = true;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

#[then(expr = "the reply has code {int}, or the plug closes the connection without one")]
async fn code_or_close(w: &mut PlugWorld, code: i64) -> anyhow::Result<()> {
    if w.ap_closed {
        return Ok(());
    }
    reply_code_only(w, code).await
}

#[when(expr = "{int} clients connect to the AP socket and send nothing")]
async fn idle_clients(w: &mut PlugWorld, n: usize) -> anyhow::Result<()> {
    for _ in 0..n {
        let link = ApLink::connect(w.ap_addr().await?, w.timeline.clone()).await?;
        w.idle_links.push(link);
    }
    Ok(())
}

#[when("a client sends half a request and goes quiet")]
async fn half_open(w: &mut PlugWorld) -> anyhow::Result<()> {
    let mut link = ApLink::connect(w.ap_addr().await?, w.timeline.clone()).await?;
    link.send_raw(br#"{"header":40"#).await?;
    w.idle_links.push(link);
    Ok(())
}

#[then(expr = "the reply has code {int}")]
async fn reply_code_only(w: &mut PlugWorld, code: i64) -> anyhow::Result<()> {
    let r = w.last_reply.as_ref().context("no reply was received")?;
    if r.code != code {
        bail!(
            "expected code {code} ({}), got code {} ({}): {}",
            ap::code_meaning(code),
            r.code,
            ap::code_meaning(r.code),
            r.raw
        );
    }
    Ok(())
}

#[then(expr = "the plug answers 4001 on a new connection within {int} s")]
async fn serves_within(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    // Idle clients must not wedge the plug [profile], but it may serve one connection at a
    // time and drop an idle one only after its own timeout: try again until `secs`.
    let addr = w.ap_addr().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let tried = ApLink::request_fresh(addr, &ap::device_info(), w.timeline.clone(), left).await;
        match tried {
            Ok((link, r)) if r.code == 0 && r.header == Some(ap::DEVICE_INFO) => {
                w.ap = Some(link);
                return Ok(());
            }
            Ok((_, r)) => bail!("4001 with idle clients open: {}", r.raw),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                bail!("no 4001 answer within {secs} s while idle clients hold connections: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[then("the plug still answers 4001 on a new connection")]
async fn still_serves(w: &mut PlugWorld) -> anyhow::Result<()> {
    let addr = w.ap_addr().await?;
    let (link, reply) = ApLink::request_fresh(
        addr,
        &ap::device_info(),
        w.timeline.clone(),
        Duration::from_secs(10),
    )
    .await?;
    ensure!(
        reply.code == 0 && reply.header == Some(ap::DEVICE_INFO),
        "4001 after bad input: {}",
        reply.raw
    );
    w.ap = Some(link);
    Ok(())
}

/// `ap-reply-bytes` [app]: every reply the plug gave in this scenario was one JSON object
/// of at most 1024 bytes with no 0x00 byte. The AP link notes each reply that is not
/// (`ap_link::REPLY_BYTES_BROKEN`) and otherwise reads on, so that only this rule's
/// scenario fails on such a plug.
#[then("every AP reply was at most 1024 bytes with no NUL byte")]
async fn replies_are_clean(w: &mut PlugWorld) -> anyhow::Result<()> {
    use crate::drivers::timeline::Event;
    let seen = w.timeline.snapshot();
    let replies = seen
        .iter()
        .filter(|e| matches!(e.event, Event::ApReceived(_)))
        .count();
    ensure!(replies > 0, "no AP reply to judge");
    let broken: Vec<&str> = seen
        .iter()
        .filter_map(|e| match &e.event {
            Event::Note(n) if n.starts_with(crate::drivers::ap_link::REPLY_BYTES_BROKEN) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    ensure!(
        broken.is_empty(),
        "{} of {replies} replies broke ap-reply-bytes:\n{}",
        broken.len(),
        broken.join("\n")
    );
    Ok(())
}
