//! A rig farm on labgrid: a bench is a labgrid place; plugrig reserves it (waiting while
//! another job holds it), locks it, reads the place's resources, points the rig's serial
//! instruments at them, runs, and releases the place on every way out.
//!
//! Read first: `labgrid` (the coordinator through labgrid-client, and the `Lease` whose
//! Drop releases), then `show` (reading the place). This module owns the rig-file side:
//! the `[farm]` section and the `place:NAME` port references it resolves.
//!
//! Binding is by name, as labgrid's drivers bind: a rig file says `console =
//! "place:console"`, and the place's resource named `console` (a `NetworkSerialPort`, which
//! is how an exporter publishes a `USBSerialPort` it serves through ser2net) becomes
//! `rfc2217://HOST:PORT`. What labgrid has no class for (the plug's AP network, the meter's
//! kind and class, the plug's claimed accuracy) stays in the rig file.

pub mod labgrid;
pub mod pylit;
pub mod show;

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::rig::farm::wait_s;
use crate::rig::{MeterSpec, Rig, RigFile};
use labgrid::{Client, Lease};
use show::{Place, Resource};

/// A port string naming a resource of the place: `place:NAME`.
pub const PREFIX: &str = "place:";

/// What to reserve: from `--place` and the rig's `[farm]`; None when neither names a place
/// or tags (the rig runs on its own instruments, as before).
pub fn request(
    rig: &RigFile,
    place_arg: Option<&str>,
) -> anyhow::Result<Option<(Client, Vec<String>, Duration)>> {
    let farm = rig.farm.clone();
    let place = place_arg
        .map(str::to_string)
        .or_else(|| farm.as_ref().and_then(|f| f.place.clone()));
    let tags = farm.as_ref().map(|f| f.tags.clone()).unwrap_or_default();
    if place.is_none() && tags.is_empty() {
        let refs = references(rig);
        if !refs.is_empty() {
            bail!(
                "{} name a labgrid place's resources: run with --place NAME (or set [farm] place)",
                refs.join(", ")
            );
        }
        return Ok(None);
    }
    let mut filters: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(p) = &place {
        if p.is_empty() || p.contains(['=', ' ', '+']) {
            bail!("--place {p:?}: not a labgrid place name");
        }
        filters.push(format!("name={p}"));
    }
    let coordinator = farm.as_ref().and_then(|f| f.coordinator.as_deref());
    let wait = Duration::from_secs(farm.as_ref().map_or(wait_s(), |f| f.wait_s));
    Ok(Some((Client::new(coordinator), filters, wait)))
}

/// The rig's ports that name the place's resources, as `key = "place:NAME"`.
pub fn references(rig: &RigFile) -> Vec<String> {
    let mut rig = rig.clone();
    let mut refs = Vec::new();
    let _ = each_port(&mut rig, &mut |key, port| {
        if port.starts_with(PREFIX) {
            refs.push(format!("{key} = {port:?}"));
        }
        Ok(())
    });
    refs
}

/// Calls `f` on every serial or network port of the rig that a place can provide.
fn each_port(
    rig: &mut RigFile,
    f: &mut dyn FnMut(&str, &mut String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    rig.dut.each_port(PREFIX, f)?;
    match &mut rig.meter {
        Some(MeterSpec::Sdm120 { port, .. }) => f("meter.port", port)?,
        Some(MeterSpec::Scpi { address, .. }) => f("meter.address", address)?,
        None => {}
    }
    Ok(())
}

/// The port string of a place's resource: `rfc2217://HOST:PORT` (ser2net's telnet mode,
/// labgrid's default) or `tcp://HOST:PORT` (`protocol: raw`).
pub fn port_of(r: &Resource, place: &str) -> anyhow::Result<String> {
    let what = || format!("resource '{}' ({}) of place {place}", r.name, r.path);
    if r.cls != "NetworkSerialPort" {
        bail!(
            "{} is a {}: plugrig reads serial ports served over the network (NetworkSerialPort, which is how an exporter publishes a USBSerialPort or RawSerialPort it serves with ser2net)",
            what(),
            r.cls
        );
    }
    if !r.avail {
        bail!(
            "{} is not available: its exporter does not have it now (unplugged, or ser2net could not start)",
            what()
        );
    }
    if let Some(pylit::Value::Dict(extra)) = r.params.get("extra") {
        if extra.get("proxy_required") == Some(&pylit::Value::Bool(true)) {
            bail!("{} is reachable only through labgrid's SSH proxy, which plugrig does not use: export it on an address this host reaches", what());
        }
    }
    let host = r
        .str_param("host")
        .filter(|h| !h.is_empty())
        .with_context(|| format!("{} has no host", what()))?;
    let port = r
        .int_param("port")
        .filter(|p| (1..=65535).contains(p))
        .with_context(|| format!("{} has no TCP port (is its exporter serving it?)", what()))?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match r.str_param("protocol").unwrap_or("rfc2217") {
        "rfc2217" => Ok(format!("rfc2217://{host}:{port}")),
        "raw" => Ok(format!("tcp://{host}:{port}")),
        other => bail!(
            "{} has protocol {other:?}: plugrig speaks rfc2217 and raw",
            what()
        ),
    }
}

/// Points every `place:NAME` port of the rig at the place's resource NAME; returns one line
/// per mapping for the log.
pub fn resolve(rig: &mut RigFile, place: &Place) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    each_port(rig, &mut |key, port| {
        let Some(name) = port.strip_prefix(PREFIX) else {
            return Ok(());
        };
        let matching: Vec<&Resource> = place.resources.iter().filter(|r| r.name == name).collect();
        let r = match matching.as_slice() {
            [r] => *r,
            [] => {
                let have: Vec<&str> = place.resources.iter().map(|r| r.name.as_str()).collect();
                let orphans = if place.orphaned.is_empty() {
                    String::new()
                } else {
                    format!("; orphaned (exporter gone): {}", place.orphaned.join(", "))
                };
                bail!(
                    "{key} = {port:?}: place {} has no resource named '{name}' (it has: {}{orphans})",
                    place.name,
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                );
            }
            _ => bail!(
                "{key} = {port:?}: place {} has {} resources named '{name}': rename them in the place's matches (add-match PATH NAME)",
                place.name,
                matching.len()
            ),
        };
        let url = port_of(r, &place.name).with_context(|| format!("{key} = {port:?}"))?;
        lines.push(format!("{key} <- {url} ('{name}', {})", r.path));
        *port = url;
        Ok(())
    })?;
    Ok(lines)
}

/// How a run on a place ended.
pub enum Ended<T> {
    Done(T),
    /// Interrupted (SIGINT or SIGTERM, as CI sends on cancel or timeout); the place was
    /// released. The exit code to use: 128 + the signal.
    Signalled(u8),
}

async fn signalled() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        // No handler: only the Drop of the lease on the way out.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 130,
        _ = term.recv() => 143,
    }
}

/// Reserves and locks the place, resolves the rig's `place:` ports, runs `body` on that rig,
/// and releases the place: after `body` returns, on an error, on SIGINT/SIGTERM (the body is
/// dropped), and on a panic (the lease's Drop).
pub async fn on_place<T, F, Fut>(
    mut rig: Rig,
    (client, filters, wait): (Client, Vec<String>, Duration),
    body: F,
) -> anyhow::Result<Ended<T>>
where
    F: FnOnce(Rig) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    // Listen before reserving, so a Ctrl-C while waiting for the place cancels the reservation.
    let signal = signalled();
    let work = async {
        let (lease, place) = Lease::acquire(&client, &filters, wait).await?;
        let mapped = resolve(&mut rig.file, &place);
        let out = match mapped {
            Ok(lines) => {
                for l in lines {
                    println!("plugrig: {l}");
                }
                body(rig).await
            }
            Err(e) => Err(e),
        };
        let released = lease.release();
        let out = out?;
        released?;
        anyhow::Ok(out)
    };
    tokio::select! {
        r = work => r.map(Ended::Done),
        code = signal => {
            println!("plugrig: interrupted; the place was released");
            Ok(Ended::Signalled(code))
        }
    }
}

/// `plugrig farm unlock --place NAME`: frees a place a killed job left locked, and cancels
/// its reservation (else the coordinator keeps it allocated to the dead job for a minute).
pub async fn unlock(place: &str, rig_coordinator: Option<&str>, kick: bool) -> anyhow::Result<String> {
    let client = Client::new(rig_coordinator);
    let p = client.show(place).await?;
    let mut done = Vec::new();
    if let Some(holder) = &p.acquired {
        client
            .unlock_sync(&p.name, kick)
            .with_context(|| format!("place {} is locked by {holder}", p.name))?;
        done.push(format!("unlocked (was locked by {holder})"));
    }
    if let Some(token) = &p.reservation {
        client.cancel_sync(token)?;
        done.push(format!("cancelled reservation {token}"));
    }
    if done.is_empty() {
        done.push("was not locked or reserved".into());
    }
    Ok(format!("place {}: {}", p.name, done.join(", ")))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
