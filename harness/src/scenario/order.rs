//! The order scenarios start in: the plug's claims first, then the slow ones.
//!
//! cucumber starts scenarios in the order it parsed them, a feature file after another, as
//! many at once as the run's concurrency allows. A 12 s heartbeat scenario parsed last starts
//! when nearly everything else is done, and the run waits for it alone: the wall time is its
//! start plus its length, not the larger of its length and the total work divided by the
//! concurrency. Scenarios tagged `@slow` (those whose own protocol waits pass 2.5 s of
//! the default rig's time: heartbeat periods, countdowns, back-offs) start first, the
//! longest-processing-time-first rule of scheduling; the rest keep their file order. The
//! reports are sorted by file and line, so only the terminal's order changes.

use cucumber::gherkin;
use cucumber::parser::{self, Parser};
use futures::stream;

/// cucumber's own parser, with each feature's `@slow` scenarios moved to its front and
/// the features holding them moved to the front of the run.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlowFirst;

pub const SLOW_TAG: &str = "slow";

fn is_slow(s: &gherkin::Scenario) -> bool {
    s.tags.iter().any(|t| t == SLOW_TAG)
}

fn feature_is_slow(f: &gherkin::Feature) -> bool {
    f.tags.iter().any(|t| t == SLOW_TAG)
        || f.scenarios.iter().any(is_slow)
        || f.rules.iter().any(|r| r.scenarios.iter().any(is_slow))
}

/// Moves the slow ones first, keeping the order within each group (a stable sort).
pub fn slow_first(mut features: Vec<gherkin::Feature>) -> Vec<gherkin::Feature> {
    for f in &mut features {
        f.scenarios.sort_by_key(|s| !is_slow(s));
        for r in &mut f.rules {
            r.scenarios.sort_by_key(|s| !is_slow(s));
        }
    }
    // The plug's claims are checked first (`rig::declaration`): on a bench, before anything
    // else has changed the plug (an upgrade changes its version). Then the slow ones.
    features.sort_by_key(|f| (!is_claims(f), !feature_is_slow(f)));
    features
}

/// The tag of the feature that checks the plug's declaration against the plug.
pub const CLAIMS_TAG: &str = "claims";

fn is_claims(f: &gherkin::Feature) -> bool {
    f.tags.iter().any(|t| t == CLAIMS_TAG)
}

impl<I: AsRef<std::path::Path>> Parser<I> for SlowFirst {
    type Cli = <parser::Basic as Parser<I>>::Cli;
    type Output = stream::Iter<std::vec::IntoIter<parser::Result<gherkin::Feature>>>;

    fn parse(self, input: I, cli: Self::Cli) -> Self::Output {
        // Basic parses everything at once and hands it over as a ready stream.
        let parsed: Vec<parser::Result<gherkin::Feature>> =
            parser::Basic::new().parse(input, cli).into_inner().collect();
        let (features, errors): (Vec<_>, Vec<_>) = parsed.into_iter().partition(Result::is_ok);
        let features = slow_first(features.into_iter().filter_map(Result::ok).collect());
        // Parse errors first: they are reported as such whatever the order.
        let all: Vec<_> = errors.into_iter().chain(features.into_iter().map(Ok)).collect();
        stream::iter(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(path: &str) -> gherkin::Feature {
        let text = std::fs::read_to_string(path).expect("feature file");
        gherkin::Feature::parse(text, gherkin::GherkinEnv::default()).expect("parses")
    }

    #[test]
    fn slow_scenarios_and_their_features_come_first_and_the_rest_keep_their_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../features/");
        let names = ["firmware_infor", "switch", "countdown"];
        let parsed: Vec<gherkin::Feature> = names
            .iter()
            .map(|n| feature(&format!("{dir}{n}.feature")))
            .collect();
        let before: Vec<String> = parsed[1].scenarios.iter().map(|s| s.name.clone()).collect();
        let sorted = slow_first(parsed);
        // firmware_infor has no @slow scenario: it goes after the two that do.
        let order: Vec<&str> = sorted.iter().map(|f| f.name.as_str()).collect();
        assert!(order[2].contains("Firmware"), "{order:?}");
        let switch = &sorted[0];
        assert!(
            switch.scenarios.first().is_some_and(is_slow),
            "{:?}",
            switch.scenarios[0].name
        );
        // The others in their file order.
        let rest: Vec<&String> = switch
            .scenarios
            .iter()
            .filter(|s| !is_slow(s))
            .map(|s| &s.name)
            .collect();
        let rest_before: Vec<&String> = before.iter().filter(|n| rest.contains(n)).collect();
        assert_eq!(rest, rest_before);
    }

    #[test]
    fn the_claims_come_before_everything() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../features/");
        let parsed: Vec<gherkin::Feature> = ["switch", "declaration", "countdown"]
            .iter()
            .map(|n| feature(&format!("{dir}{n}.feature")))
            .collect();
        let sorted = slow_first(parsed);
        assert!(is_claims(&sorted[0]), "{:?}", sorted[0].name);
        assert!(!is_claims(&sorted[1]) && feature_is_slow(&sorted[1]));
    }
}
