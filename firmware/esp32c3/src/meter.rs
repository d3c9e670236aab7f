//! The BL0942 on its UART: write the read command when the core asks, pass every byte
//! that comes back. Framing and checksums are the core's (plug-core::bl0942).

use embassy_futures::select::{select, Either};
use esp_hal::uart::{UartRx, UartTx};
use esp_hal::Async;
use heapless::Vec;
use plug_core::bl0942::REQUEST;

use crate::events::{Ev, EVENTS, METER_REQUEST};

#[embassy_executor::task]
pub async fn run(mut rx: UartRx<'static, Async>, mut tx: UartTx<'static, Async>) {
    let mut buf = [0u8; 32];
    loop {
        match select(METER_REQUEST.wait(), rx.read_async(&mut buf)).await {
            Either::First(()) => {
                let _ = tx.write_async(&REQUEST).await;
            }
            Either::Second(Ok(n)) if n > 0 => {
                let bytes = Vec::from_slice(&buf[..n]).unwrap_or_default();
                EVENTS.send(Ev::Meter(bytes)).await;
            }
            // A framing or overflow error loses bytes; the core's reader resynchronises.
            Either::Second(_) => {}
        }
    }
}
