//! What the rig's actuators do to the plug: mains power and the button.

use std::time::Duration;

use cucumber::when;
use instruments::actuators::{ButtonActuator, PowerSwitch};

use crate::scenario::world::PlugWorld;

#[when("the button is pressed briefly")]
async fn short_press(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Half a second of a real plug's time: well under the 2 s of a short press.
    let hold = w.periods().app(0.5);
    w.mark_command();
    w.actuated = true;
    w.plug.press(hold).await
}

#[when(expr = "the button is held for {int} s")]
async fn hold(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    // A little longer than asked, so the plug's own timer has surely run out.
    let hold = w.periods().app(secs as f64 + 0.5);
    w.protocol_wait(w.periods().app(secs as f64));
    w.mark_command();
    w.actuated = true;
    w.plug.press(hold).await
}

#[when("the plug's power is cycled")]
async fn power_cycle(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.mark_command();
    w.actuated = true;
    w.plug.cycle(Duration::from_millis(300)).await
}
