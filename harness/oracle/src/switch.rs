//! The relay (spec 3.2.1, 3.3.1): its reported states, as changes.

use anyhow::ensure;

/// Only the changes in a series of relay states, starting from a `known` state:
/// heartbeats and echoes repeat the state, and a console may print it again.
pub fn changes(states: impl IntoIterator<Item = bool>, known: bool) -> Vec<bool> {
    let mut out: Vec<bool> = Vec::new();
    for on in states {
        if out.last().copied().unwrap_or(known) != on {
            out.push(on);
        }
    }
    out
}

/// The relay changes the plug reported over MQTT appear, in the same order, on its console
/// [profile].
pub fn check_console_matches(mqtt: &[bool], console: &[bool]) -> anyhow::Result<()> {
    ensure!(!mqtt.is_empty(), "no relay change was reported over MQTT");
    ensure!(
        mqtt == console,
        "relay changes over MQTT {mqtt:?} differ from those on the console {console:?}"
    );
    Ok(())
}

/// No switch_state changed the relay: every reported state is the same.
pub fn check_unchanged(states: &[bool]) -> anyhow::Result<()> {
    ensure!(
        states.windows(2).all(|s| s[0] == s[1]),
        "switch_state changed without a command: {states:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_not_changes() {
        assert_eq!(
            changes([false, true, true, false, false], false),
            vec![true, false]
        );
        assert_eq!(changes([true, true], true), Vec::<bool>::new());
    }

    #[test]
    fn a_console_that_missed_a_change_fails() {
        assert!(check_console_matches(&[true, false], &[true, false]).is_ok());
        assert!(check_console_matches(&[true, false], &[true]).is_err());
        assert!(check_console_matches(&[], &[]).is_err());
        assert!(check_unchanged(&[true, true]).is_ok());
        assert!(check_unchanged(&[true, false]).is_err());
    }
}
