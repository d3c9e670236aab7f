//! The radio: access point until the core asks to join a network, then the station,
//! rejoining after every loss. Link and address changes go to the core as NetworkUp/Down.

use embassy_futures::select::{select, Either};
use embassy_net::Stack;
use embassy_time::{Duration, Timer};
use esp_radio::wifi::ap::AccessPointConfig;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{AuthenticationMethodConfig, Config, WifiController};
use heapless::String;
use plug_core::config::WifiConfig;

use crate::events::{Ev, WifiCmd, EVENTS, WIFI_CMD};

/// Between attempts to join a network that refused or vanished.
const REJOIN: Duration = Duration::from_secs(5);
/// How long the access point stays after the core asks to join a network.
const AP_LINGER: Duration = Duration::from_millis(500);

#[embassy_executor::task]
pub async fn run(mut controller: WifiController<'static>, sta: Stack<'static>, ap_ssid: String<32>) {
    let mut joined: Option<WifiConfig> = None;
    loop {
        let cmd = match &joined {
            None => WIFI_CMD.wait().await,
            Some(cfg) => match select(WIFI_CMD.wait(), station(&mut controller, sta, cfg)).await {
                Either::First(cmd) => cmd,
                Either::Second(()) => continue,
            },
        };
        match cmd {
            WifiCmd::StartAp => {
                let ap =
                    AccessPointConfig::default().with_ssid(ap_ssid.as_str().try_into().unwrap_or_default());
                if let Err(e) = controller.set_config(&Config::AccessPoint(ap)) {
                    esp_println::println!("plug 0 error what=ap-start({e:?})");
                }
                joined = None;
            }
            WifiCmd::Join(cfg) => {
                if joined.is_none() {
                    // Leaving the access point: let the provisioning reply that asked for
                    // this reach the app before the AP goes down.
                    Timer::after(AP_LINGER).await;
                }
                joined = Some(cfg);
            }
        }
    }
}

/// One attempt: join, wait for DHCP, report up, wait for the loss, report down.
async fn station(controller: &mut WifiController<'static>, sta: Stack<'static>, cfg: &WifiConfig) {
    let Some(conf) = station_config(cfg) else {
        esp_println::println!("plug 0 error what=wifi-config-unusable");
        Timer::after(REJOIN).await;
        return;
    };
    if controller.set_config(&Config::Station(conf)).is_err() {
        Timer::after(REJOIN).await;
        return;
    }
    if controller.connect_async().await.is_err() {
        Timer::after(REJOIN).await;
        return;
    }
    sta.wait_config_up().await;
    EVENTS.send(Ev::NetworkUp).await;
    let _ = controller.wait_for_disconnect_async().await;
    EVENTS.send(Ev::NetworkDown).await;
    Timer::after(Duration::from_secs(1)).await;
}

/// The provisioned security (4003 `security`: OPEN 0, WEP 1, WPA 2, WPA2 3, WPA/WPA2 4).
fn station_config(cfg: &WifiConfig) -> Option<StationConfig> {
    let password = || cfg.password.as_str().try_into().ok();
    let auth = match cfg.security {
        0 => AuthenticationMethodConfig::Open,
        1 => AuthenticationMethodConfig::Wep(password()?),
        2 => AuthenticationMethodConfig::Wpa(password()?),
        3 => AuthenticationMethodConfig::Wpa2Personal(password()?),
        _ => AuthenticationMethodConfig::WpaWpa2Personal(password()?),
    };
    Some(
        StationConfig::default()
            .with_ssid(cfg.ssid.as_str().try_into().ok()?)
            .with_authentication(auth),
    )
}

/// The access point's SSID: the model and the MAC's last two bytes (`MK112-A1B2`), so two
/// plugs on one bench are told apart.
pub fn ap_ssid(mac: [u8; 6], metering: bool) -> String<32> {
    use core::fmt::Write;
    let mut s = String::new();
    let model = if metering { "MK112" } else { "MK102" };
    let _ = write!(s, "{model}-{:02X}{:02X}", mac[4], mac[5]);
    s
}
