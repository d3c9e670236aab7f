//! The application task: plug-core's state machine, fed with the I/O tasks' events and
//! its actions carried out here or handed to the task that owns the resource. Everything
//! the plug decides is the core's; this file only moves bytes and flips pins.

use embassy_embedded_hal::adapter::BlockingAsync;
use embassy_futures::select::{select, Either};
use embassy_time::{Duration, Timer};
use esp_hal::gpio::{Level, Output};
use esp_println::println;
use esp_storage::FlashStorage;
use plug_board::partitions::CONFIG;
use plug_core::console::{self, Event as Console};
use plug_core::ota::slot::SlotWriter;
use plug_core::plug::{Action, Input, LinkId, OtaInput};
use plug_core::storage::ConfigStore;
use plug_core::Plug;

use crate::ap_socket::{slot_of, LISTENING};
use crate::events::*;
use crate::ota_slot;

pub struct Hardware {
    pub relay: Output<'static>,
    pub led: Output<'static>,
    pub flash: FlashStorage<'static>,
    pub board: &'static plug_board::Board,
}

pub fn now() -> plug_core::Instant {
    plug_core::Instant::from_micros(embassy_time::Instant::now().as_micros())
}

pub fn say(e: &Console) {
    println!("{}", console::line(now().as_millis(), e));
}

struct State {
    /// The slot the current download (by its link) is written to.
    slot: Option<(LinkId, SlotWriter)>,
}

pub async fn run(plug: &'static mut Plug, mut hw: Hardware) -> ! {
    let mut st = State { slot: None };
    loop {
        while let Some(a) = plug.poll_action() {
            apply(plug, &mut hw, &mut st, a).await;
        }
        let due = plug
            .poll_timeout()
            .map(|t| embassy_time::Instant::from_micros(t.as_micros()));
        let ev = match due {
            Some(at) => match select(EVENTS.receive(), Timer::at(at)).await {
                Either::First(ev) => ev,
                Either::Second(()) => {
                    plug.handle_timeout(now());
                    continue;
                }
            },
            None => EVENTS.receive().await,
        };
        input(plug, &mut hw, &mut st, ev);
    }
}

fn input(plug: &mut Plug, hw: &mut Hardware, st: &mut State, ev: Ev) {
    let t = now();
    match ev {
        Ev::ApAccepted(id) => plug.handle(t, Input::ApAccepted(id)),
        Ev::ApData(id, d) => plug.handle(t, Input::ApData(id, &d)),
        Ev::ApClosed(id) => plug.handle(t, Input::ApClosed(id)),
        Ev::NetworkUp => plug.handle(t, Input::NetworkUp),
        Ev::NetworkDown => plug.handle(t, Input::NetworkDown),
        Ev::MqttOpened(link) => plug.handle(t, Input::MqttOpened(link)),
        Ev::MqttData(link, d) => plug.handle(t, Input::MqttData(link, &d)),
        Ev::MqttClosed(link) => plug.handle(t, Input::MqttClosed(link)),
        Ev::Button(pressed) => plug.handle(t, Input::Button { pressed }),
        Ev::Meter(d) => plug.handle(t, Input::Meter(&d)),
        Ev::Ota(link, e) => {
            // Only the current download's bytes reach its slot; anything else is from a
            // link the core has left behind, and the core drops it.
            let mut slot = st.slot.as_mut().filter(|(l, _)| *l == link).map(|(_, w)| w);
            let input = match &e {
                OtaEvent::ResolveFailed => OtaInput::ResolveFailed,
                OtaEvent::ConnectFailed => OtaInput::ConnectFailed,
                OtaEvent::Status(s) => OtaInput::Status(*s),
                OtaEvent::Data(d) => match slot.as_mut().map(|s| s.write(&mut hw.flash, d)) {
                    Some(Err(_)) => slot_failed(st),
                    _ => OtaInput::Data(d),
                },
                OtaEvent::End => match slot.as_mut().map(|s| s.finish(&mut hw.flash)) {
                    Some(Err(_)) => slot_failed(st),
                    _ => OtaInput::End,
                },
                OtaEvent::Broken => OtaInput::Broken,
            };
            plug.handle(t, Input::Ota(link, input));
        }
    }
}

/// The slot could not take the image: stop the transfer; the core reports the failure.
fn slot_failed(st: &mut State) -> OtaInput<'static> {
    say(&Console::Error {
        what: "ota slot write failed",
    });
    st.slot = None;
    let _ = OTA_CMDS.try_send(OtaCmd::Cancel);
    OtaInput::Broken
}

async fn apply(plug: &mut Plug, hw: &mut Hardware, st: &mut State, a: Action) {
    match a {
        Action::ApListen => {
            LISTENING.store(true, core::sync::atomic::Ordering::Relaxed);
            WIFI_CMD.signal(WifiCmd::StartAp);
        }
        Action::ApStopListening => {
            LISTENING.store(false, core::sync::atomic::Ordering::Relaxed);
            // Replies queued before this were sent in order by the slot tasks.
            for cmds in AP_CMDS.iter() {
                cmds.send(ApCmd::CloseAll).await;
            }
        }
        Action::ApSend(id, reply) => AP_CMDS[slot_of(id)].send(ApCmd::Send(id, reply)).await,
        Action::ApClose(id) => AP_CMDS[slot_of(id)].send(ApCmd::Close(id)).await,
        Action::JoinNetwork(cfg) => WIFI_CMD.signal(WifiCmd::Join(cfg)),
        Action::MqttOpen {
            link,
            host,
            port,
            tls,
        } => {
            MQTT_CMDS
                .send(MqttCmd::Open {
                    link,
                    host,
                    port,
                    tls,
                })
                .await;
        }
        Action::MqttSend(bytes) => MQTT_CMDS.send(MqttCmd::Send(bytes)).await,
        Action::MqttClose => MQTT_CMDS.send(MqttCmd::Close).await,
        Action::SetRelay(on) => {
            hw.relay.set_level(Level::from(hw.board.relay.level_for(on)));
            // The LED shows the relay, as on the vendor's plugs.
            hw.led.set_level(Level::from(hw.board.led.level_for(on)));
        }
        Action::MeterRequest => METER_REQUEST.signal(()),
        Action::Store(c) => {
            let flash = BlockingAsync::new(&mut hw.flash);
            let saved = match ConfigStore::new(flash, CONFIG.offset..CONFIG.end()) {
                Ok(mut store) => store.save(&c).await.is_ok(),
                Err(_) => false,
            };
            if !saved {
                say(&Console::Error {
                    what: "config store failed",
                });
            }
        }
        Action::Erase => {
            let flash = BlockingAsync::new(&mut hw.flash);
            let erased = match ConfigStore::new(flash, CONFIG.offset..CONFIG.end()) {
                Ok(mut store) => store.erase().await.is_ok(),
                Err(_) => false,
            };
            if !erased {
                say(&Console::Error {
                    what: "config erase failed",
                });
            }
        }
        Action::OtaFetch {
            link,
            host,
            port,
            path,
            resolve,
        } => {
            st.slot = None;
            match ota_slot::next_slot(&mut hw.flash) {
                Ok(slot) => {
                    st.slot = Some((link, SlotWriter::new(slot.offset, slot.size)));
                    OTA_CMDS
                        .send(OtaCmd::Fetch {
                            link,
                            host,
                            port,
                            path,
                            resolve,
                        })
                        .await;
                }
                Err(_) => {
                    say(&Console::Error {
                        what: "no ota slot in the partition table",
                    });
                    plug.handle(now(), Input::Ota(link, OtaInput::Broken));
                }
            }
        }
        Action::OtaCancel => {
            st.slot = None;
            OTA_CMDS.send(OtaCmd::Cancel).await;
        }
        Action::OtaActivate => {
            st.slot = None;
            if ota_slot::activate(&mut hw.flash).is_err() {
                say(&Console::Error {
                    what: "ota activate failed",
                });
            }
        }
        Action::OtaConfirm => {
            if ota_slot::confirm(&mut hw.flash).is_err() {
                say(&Console::Error {
                    what: "ota confirm failed",
                });
            }
        }
        // The restart that follows boots the previous slot; nothing to say if this fails.
        Action::OtaRollBack => {
            let _ = ota_slot::roll_back(&mut hw.flash);
        }
        Action::Restart => restart().await,
        Action::Console(e) => say(&e),
    }
}

/// Lets the console drain, then resets the chip (the bootloader picks the OTA slot).
async fn restart() -> ! {
    Timer::after(Duration::from_millis(50)).await;
    esp_hal::system::software_reset()
}
