//! The control channel: what a rig's actuators do to a real plug, as text lines over TCP
//! on loopback. One command per line; each gets one reply line, `ok ...` or `error ...`.
//!
//! | command               | effect                                                   |
//! |-----------------------|----------------------------------------------------------|
//! | `power off`/`power on`| cut or restore the plug's mains input                    |
//! | `button down`/`up`    | press or release the button                              |
//! | `button press MS`     | press for MS milliseconds (wall time), then release      |
//! | `load WATTS`          | the resistive load plugged into the socket               |
//! | `mains VOLTS`         | the mains voltage                                        |
//! | `status`              | `ok power=on relay=off load=60 volts=230 watts=0`        |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::world::{lock, World};

pub async fn serve(l: TcpListener, world: Arc<Mutex<World>>, power: watch::Sender<bool>) {
    let power = Arc::new(power);
    while let Ok((s, _)) = l.accept().await {
        let _ = s.set_nodelay(true);
        tokio::spawn(session(s, world.clone(), power.clone()));
    }
}

async fn session(s: TcpStream, world: Arc<Mutex<World>>, power: Arc<watch::Sender<bool>>) {
    let (r, mut w) = s.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = command(line.trim(), &world, &power).await;
        if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

fn button(world: &Mutex<World>, pressed: bool) -> Result<(), String> {
    match &lock(world).button {
        Some(b) if b.send(pressed).is_ok() => Ok(()),
        _ => Err("error the plug is not powered".into()),
    }
}

async fn command(cmd: &str, world: &Mutex<World>, power: &watch::Sender<bool>) -> String {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let number = |i: usize| {
        words
            .get(i)
            .and_then(|w| w.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let result: Result<String, String> = match words.as_slice() {
        ["power", "on"] => {
            power.send_replace(true);
            Ok("ok".into())
        }
        ["power", "off"] => {
            power.send_replace(false);
            // Wait until the firmware is really down, so the next command sees it off.
            for _ in 0..200 {
                if !lock(world).powered {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok("ok".into())
        }
        ["button", "down"] => button(world, true).map(|_| "ok".into()),
        ["button", "up"] => button(world, false).map(|_| "ok".into()),
        ["button", "press", _] => match number(2) {
            Some(ms) => match button(world, true) {
                Ok(()) => {
                    tokio::time::sleep(Duration::from_millis(ms as u64)).await;
                    // The plug may have reset itself meanwhile; the release still counts.
                    let _ = button(world, false);
                    Ok("ok".into())
                }
                Err(e) => Err(e),
            },
            None => Err("error button press wants milliseconds".into()),
        },
        ["load", _] => match number(1) {
            Some(w) => {
                lock(world).load_watts = w;
                Ok("ok".into())
            }
            None => Err("error load wants watts".into()),
        },
        ["mains", _] => match number(1) {
            Some(v) => {
                lock(world).mains_volts = v;
                Ok("ok".into())
            }
            None => Err("error mains wants volts".into()),
        },
        ["status"] => {
            let w = lock(world);
            let (volts, amps, watts) = w.flow();
            let onoff = |b: bool| if b { "on" } else { "off" };
            Ok(format!(
                "ok power={} relay={} load={} volts={volts:.1} amps={amps:.4} watts={watts:.2}",
                onoff(w.powered),
                onoff(w.relay),
                w.load_watts
            ))
        }
        _ => Err(format!("error unknown command {cmd:?}")),
    };
    result.unwrap_or_else(|e| e)
}
