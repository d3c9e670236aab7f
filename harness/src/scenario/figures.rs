//! Figures for `cargo bench -p plugrig`: the waits the protocol itself imposes on the
//! suite, and switch round trips. Steps report into these; the suite never reads them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::sync::Locked;

static PROTOCOL_WAIT_US: AtomicU64 = AtomicU64::new(0);
static ROUND_TRIPS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
static PLUG_RESPONSES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// A step waited `d` because the protocol says so (a period, a hold, an observation window).
pub fn protocol_wait(d: Duration) {
    PROTOCOL_WAIT_US.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
}

/// Sum of protocol waits since the last call (and resets it).
pub fn take_protocol_wait() -> Duration {
    Duration::from_micros(PROTOCOL_WAIT_US.swap(0, Ordering::Relaxed))
}

pub fn round_trip(d: Duration) {
    ROUND_TRIPS.locked().push(d);
}

/// The plug's own share of a round trip: command in, echo out, both seen on the tap.
pub fn plug_response(d: Duration) {
    PLUG_RESPONSES.locked().push(d);
}

pub fn take_plug_responses() -> Vec<Duration> {
    std::mem::take(&mut *PLUG_RESPONSES.locked())
}

pub fn take_round_trips() -> Vec<Duration> {
    std::mem::take(&mut *ROUND_TRIPS.locked())
}

/// The q-quantile (0..=1) of `v`, nearest rank.
pub fn quantile(v: &mut [Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&mut v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&mut v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&mut [], 0.5), Duration::ZERO);
    }
}
