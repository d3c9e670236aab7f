//! The MK102/MK112 plug firmware on an ESP32-C3 board.
//!
//! Board support only: plug-core is the application; this crate connects it to the radio
//! (esp-radio + embassy-net), the flash (esp-storage: configuration and OTA slots), the
//! relay, LED and button GPIOs and the BL0942 UART, all taken from one board description
//! (plug-board). Console lines go to the USB-serial-JTAG port in the core's format.
//!
//! Tasks: `app` (the core), `wifi` (controller), one embassy-net runner per interface,
//! `ap_socket` (provisioning slots + DHCP server), `mqtt_link`, `ota_fetch`, `meter`,
//! `button`. They talk through the bounded channels in `events`.
#![no_std]
#![no_main]

extern crate alloc;

mod ap_socket;
mod app;
mod button;
mod events;
mod meter;
mod mqtt_link;
mod net;
mod ota_fetch;
mod ota_slot;
mod wifi;

use core::fmt::Write;

use embassy_embedded_hal::adapter::BlockingAsync;
use embassy_executor::Spawner;
use embassy_net::{Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use esp_backtrace as _;
use esp_hal::clock::CpuClock;
use esp_hal::gpio::{AnyPin, Input, InputConfig, Level, Output, OutputConfig, Pull};
use esp_hal::rng::Rng;
use esp_hal::timer::timg::TimerGroup;
use esp_hal::uart::{self, Uart};
use esp_radio::wifi::{Interface, WifiController};
use esp_storage::FlashStorage;
use heapless::String;
use plug_board::partitions::CONFIG;
use plug_board::Board;
use plug_core::identity::Identity;
use plug_core::mqtt::NetTiming;
use plug_core::storage::ConfigStore;
use plug_core::{Plug, Timing};
use static_cell::StaticCell;

esp_bootloader_esp_idf::esp_app_desc!();

/// The board this build is for. Another board: another constant in plug-board.
static BOARD: Board = plug_board::ATHOM_C3_BL0942;

/// The version of this build, as `firmware_infor` reports it (six digits, as the vendor's).
const FIRMWARE_VERSION: &str = match option_env!("PLUG_FIRMWARE_VERSION") {
    Some(v) => v,
    None => "000001",
};

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    // The radio driver allocates; nothing of ours does.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 32 * 1024);

    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    if let Err(e) = BOARD.check_esp32c3() {
        // A wrong board constant is a build mistake; say it where the developer looks.
        panic!("board {}: {e:?}", BOARD.name);
    }
    // SAFETY: each GPIO is taken once (check_esp32c3 rejects reuse) and no other driver
    // here uses these numbers.
    let pin = |n: u8| unsafe { AnyPin::steal(n) };
    let relay = Output::new(
        pin(BOARD.relay.gpio),
        Level::from(BOARD.relay.level_for(false)),
        OutputConfig::default(),
    );
    let led = Output::new(
        pin(BOARD.led.gpio),
        Level::from(BOARD.led.level_for(false)),
        OutputConfig::default(),
    );
    let pull = match BOARD.button.active {
        plug_board::Level::Low => Pull::Up,
        plug_board::Level::High => Pull::Down,
    };
    let button = Input::new(pin(BOARD.button.gpio), InputConfig::default().with_pull(pull));

    let mut flash = FlashStorage::new(p.FLASH);
    let stored = load_config(&mut flash).await;
    let on_trial = ota_slot::on_trial(&mut flash);
    let version = ota_slot::installed_version(&mut flash);

    let mac = esp_hal::efuse::interface_mac_address(esp_hal::efuse::InterfaceMacAddress::Station);
    let mut mac_bytes = [0u8; 6];
    mac_bytes.copy_from_slice(&mac.as_bytes()[..6]);
    let identity = identity(&mac_bytes, version.as_deref().unwrap_or(FIRMWARE_VERSION));

    // Radio and both network interfaces. The AP has the spec's fixed address; the
    // station takes DHCP (and the DNS server DHCP names).
    let controller = match WifiController::new(p.WIFI, Default::default()) {
        Ok(c) => c,
        Err(e) => panic!("wifi: {e:?}"),
    };
    let rng = Rng::new();
    let seed = (rng.random() as u64) << 32 | rng.random() as u64;
    let ap_config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(ap_socket::AP_ADDRESS, 24),
        gateway: Some(ap_socket::AP_ADDRESS),
        dns_servers: Default::default(),
    });
    // AP: three provisioning slots and DHCP. Station: MQTT, OTA, DHCP client, DNS.
    static AP_RES: StaticCell<StackResources<5>> = StaticCell::new();
    static STA_RES: StaticCell<StackResources<5>> = StaticCell::new();
    let (ap_stack, ap_runner) = embassy_net::new(
        Interface::access_point(),
        ap_config,
        AP_RES.init(StackResources::new()),
        seed,
    );
    let sta_config = embassy_net::Config::dhcpv4(Default::default());
    let (sta_stack, sta_runner) = embassy_net::new(
        Interface::station(),
        sta_config,
        STA_RES.init(StackResources::new()),
        seed ^ 1,
    );

    let ssid = wifi::ap_ssid(mac_bytes, BOARD.meter.is_some());
    spawner.spawn(net_task(ap_runner).expect("task pool"));
    spawner.spawn(net_task(sta_runner).expect("task pool"));
    spawner.spawn(wifi::run(controller, sta_stack, ssid).expect("task pool"));
    spawner.spawn(ap_socket::dhcp_server(ap_stack).expect("task pool"));
    for idx in 0..events::AP_SLOTS {
        spawner.spawn(ap_socket::slot(ap_stack, idx).expect("task pool"));
    }
    spawner.spawn(mqtt_link::run(sta_stack).expect("task pool"));
    spawner.spawn(ota_fetch::run(sta_stack).expect("task pool"));
    spawner.spawn(button::run(button, BOARD.button).expect("task pool"));
    if let Some(m) = BOARD.meter {
        let config = uart::Config::default().with_baudrate(m.baud);
        match Uart::new(p.UART1, config) {
            Ok(u) => {
                let (rx, tx) = u.with_rx(pin(m.rx)).with_tx(pin(m.tx)).into_async().split();
                spawner.spawn(meter::run(rx, tx).expect("task pool"));
            }
            Err(e) => panic!("meter uart: {e:?}"),
        }
    }

    // In a static, not in the main task's future: the plug is about 52 KB, and a future
    // holding it across awaits may carry it twice.
    static PLUG: StaticCell<Plug> = StaticCell::new();
    let plug = PLUG.init_with(|| {
        Plug::new(
            identity,
            Timing::default(),
            NetTiming::default(),
            stored,
            app::now(),
        )
    });
    if on_trial {
        // The core confirms the update or rolls it back (Action::OtaConfirm/OtaRollBack).
        plug.start_trial(app::now());
    }
    let hw = app::Hardware {
        relay,
        led,
        flash,
        board: &BOARD,
    };
    app::run(plug, hw).await
}

#[embassy_executor::task(pool_size = 2)]
async fn net_task(mut runner: Runner<'static, Interface>) -> ! {
    runner.run().await
}

/// The stored configuration; an unreadable store is formatted and the plug starts
/// unprovisioned, as after a factory reset.
async fn load_config(flash: &mut FlashStorage<'static>) -> Option<plug_core::config::Config> {
    let mut store = ConfigStore::new(BlockingAsync::new(flash), CONFIG.offset..CONFIG.end()).ok()?;
    match store.load().await {
        Ok(c) => c,
        Err(e) => {
            esp_println::println!("plug 0 error what=config-unreadable({e:?})");
            let _ = store.format().await;
            None
        }
    }
}

fn identity(mac: &[u8; 6], version: &str) -> Identity {
    let mut mac_text: String<17> = String::new();
    for (i, b) in mac.iter().enumerate() {
        let sep = if i == 0 { "" } else { ":" };
        let _ = write!(mac_text, "{sep}{b:02x}");
    }
    Identity {
        function: s("iot_plug"),
        name: s(BOARD.plug_name),
        specifications: s(BOARD.specifications),
        mac: mac_text,
        power_monitoring: BOARD.meter.is_some(),
        company: s("moko"),
        production_date: s("202611"),
        firmware_version: s(version),
        ota_target: s(BOARD.ota_target),
        ota_file: s("plug-esp32c3.bin"),
        // plug-core's TLS client under the session (mqtt_link; docs/tls.md).
        tls: true,
    }
}

/// A fixed-capacity copy; the constants above all fit.
fn s<const N: usize>(v: &str) -> String<N> {
    String::try_from(v).unwrap_or_default()
}
