//! The button: edges, debounced, as pressed/released. Short press and hold are the core's.

use embassy_time::{Duration, Timer};
use esp_hal::gpio::Input;
use plug_board::Pin;

use crate::events::{Ev, EVENTS};

/// Contacts bounce for a few milliseconds; an edge counts once the level held this long.
const DEBOUNCE: Duration = Duration::from_millis(20);

#[embassy_executor::task]
pub async fn run(mut input: Input<'static>, pin: Pin) {
    let mut pressed = pin.is_active(input.is_high());
    loop {
        input.wait_for_any_edge().await;
        Timer::after(DEBOUNCE).await;
        let now = pin.is_active(input.is_high());
        if now != pressed {
            pressed = now;
            EVENTS.send(Ev::Button(pressed)).await;
        }
    }
}
