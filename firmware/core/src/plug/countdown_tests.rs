//! The countdown (`app/delay_time`, spec 3.3.2) on virtual time: its messages, what
//! cancels it, and what it refuses.

use rstest::rstest;
use std::string::String;
use std::vec::Vec;

use super::tests::{delay, MS, S};
use super::*;
use crate::mqtt::Qos;
use crate::testutil::{identity, Rig, Sent};

#[test]
fn countdown_runs_to_zero_then_switches() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    r.advance(S(65));
    let p = r.publishes("delay_time");
    assert_eq!(p.len(), 61);
    assert_eq!(delay(&p[0].0), (0, 1, 0, "on".into()));
    assert_eq!(delay(&p[1].0), (0, 0, 59, "on".into()));
    assert_eq!(delay(&p[60].0), (0, 0, 0, "on".into()));
    for w in p.windows(2) {
        assert_eq!(w[1].1.since(w[0].1), S(1));
    }
    assert!(r.relay);
    let sw = r.publishes("switch_state");
    let (last, at) = sw.last().expect("switch_state after the countdown");
    assert_eq!(last, r#"{"switch_state":"on"}"#);
    assert_eq!(*at, p[60].1);
    // The publish order on the wire: the last delay_time, then switch_state.
    let order: Vec<&str> = r
        .sent
        .iter()
        .filter_map(|s| match s {
            Sent::Publish { topic, .. } => topic.rsplit('/').next(),
            _ => None,
        })
        .collect();
    let last_delay = order.iter().rposition(|t| *t == "delay_time").unwrap_or(0);
    assert_eq!(order.get(last_delay + 1), Some(&"switch_state"));
}

#[test]
fn countdown_hours_are_split_into_fields() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":23,"delay_minute":59}"#);
    r.advance(MS(1500));
    let p = r.publishes("delay_time");
    assert_eq!(delay(&p[0].0), (23, 59, 0, "on".into()));
    assert_eq!(delay(&p[1].0), (23, 58, 59, "on".into()));
}

enum Cancel {
    AppSwitch,
    ShortPress,
    NewCountdown,
    ZeroZero,
}

#[rstest]
#[case::app_switch(Cancel::AppSwitch, 0)]
#[case::short_press(Cancel::ShortPress, 0)]
#[case::new_countdown(Cancel::NewCountdown, 1)]
#[case::zero_zero(Cancel::ZeroZero, 0)]
fn countdown_cancellation(#[case] how: Cancel, #[case] running_after: usize) {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":2}"#);
    r.advance(MS(3500));
    match how {
        Cancel::AppSwitch => r.app_publishes("switch_state", r#"{"switch_state":"on"}"#),
        Cancel::ShortPress => {
            r.input(Input::Button { pressed: true });
            r.advance(MS(300));
            r.input(Input::Button { pressed: false });
        }
        Cancel::NewCountdown => r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#),
        Cancel::ZeroZero => r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":0}"#),
    }
    let cut = r.now;
    r.advance(S(10));
    let after: Vec<(i64, i64, i64, String)> = r
        .publishes("delay_time")
        .iter()
        .filter(|(_, t)| *t >= cut)
        .map(|(p, _)| delay(p))
        .collect();
    assert_eq!(r.plug.countdown().is_some(), running_after == 1);
    if running_after == 0 {
        assert!(after.is_empty(), "{after:?}");
    } else {
        // Only the new countdown's messages: it started at 1 minute.
        assert!(
            after.iter().all(|(h, m, s, _)| h * 3600 + m * 60 + s <= 60),
            "{after:?}"
        );
        assert_eq!(after[0], (0, 1, 0, "on".into()));
    }
}

#[test]
fn a_power_cycle_cancels_the_countdown() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    let stored = r.stored.clone();
    // Power off: the RAM state is gone; power on boots from flash.
    let mut r2 = Rig::new(identity(), stored);
    r2.advance(S(70));
    assert!(r2.publishes("delay_time").is_empty());
    assert!(!r2.relay);
}

#[rstest]
#[case::hour_high(r#"{"delay_hour":24,"delay_minute":0}"#)]
#[case::minute_high(r#"{"delay_hour":0,"delay_minute":60}"#)]
#[case::negative(r#"{"delay_hour":-1,"delay_minute":5}"#)]
#[case::string(r#"{"delay_hour":"1","delay_minute":5}"#)]
#[case::missing(r#"{"delay_hour":1}"#)]
fn out_of_range_countdowns_change_nothing(#[case] payload: &str) {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":2}"#);
    r.advance(MS(1500));
    r.app_publishes("delay_time", payload);
    r.advance(MS(1000));
    let c = r.plug.countdown().expect("the running countdown goes on");
    assert_eq!(c.remaining, 118);
}
