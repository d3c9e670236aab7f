//! `plugrig coverage`: which scenarios check each rule of the protocol notes
//! (`protocol::rules`), from the `@rule-<id>` tags of the features.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use cucumber::gherkin::{Feature, GherkinEnv};
use oracle::rules::{self, RULES};

pub struct Coverage {
    /// Rule id -> "feature file: scenario" lines.
    pub by_rule: BTreeMap<&'static str, Vec<String>>,
    pub scenarios: usize,
    /// Scenarios whose `@profile` tag disagrees with their rules: the tag marks a scenario
    /// that checks only [profile] rules (this project's choices), and only such a one.
    pub profile_mismatches: Vec<String>,
}

impl Coverage {
    pub fn uncovered(&self) -> Vec<&'static str> {
        RULES
            .iter()
            .filter(|r| self.by_rule.get(r.id).is_none_or(Vec::is_empty))
            .map(|r| r.id)
            .collect()
    }
}

/// The scenarios of the features under `paths` as a run counts them: an outline once per
/// example row.
pub fn scenario_count(paths: &[PathBuf]) -> anyhow::Result<usize> {
    let mut n = 0;
    for dir in paths {
        for file in feature_files(dir)? {
            let f = Feature::parse_path(&file, GherkinEnv::default())
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let all = f
                .scenarios
                .iter()
                .chain(f.rules.iter().flat_map(|r| r.scenarios.iter()));
            for sc in all {
                n += if sc.examples.is_empty() {
                    1
                } else {
                    sc.examples
                        .iter()
                        .map(|e| e.table.as_ref().map_or(0, |t| t.rows.len().saturating_sub(1)))
                        .sum()
                };
            }
        }
    }
    Ok(n)
}

fn feature_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "feature") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

pub fn compute(paths: &[PathBuf]) -> anyhow::Result<Coverage> {
    let mut by_rule: BTreeMap<&'static str, Vec<String>> = RULES.iter().map(|r| (r.id, Vec::new())).collect();
    let mut scenarios = 0;
    let mut profile_mismatches = Vec::new();
    for dir in paths {
        for file in feature_files(dir)? {
            let f = Feature::parse_path(&file, GherkinEnv::default())
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let all = f.scenarios.iter().map(|s| (None, s)).chain(
                f.rules
                    .iter()
                    .flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s))),
            );
            for (rule, sc) in all {
                scenarios += 1;
                let tags = || {
                    f.tags
                        .iter()
                        .chain(rule.iter().flat_map(|r| r.tags.iter()))
                        .chain(sc.tags.iter())
                };
                let sources: Vec<rules::Source> = tags()
                    .filter_map(|t| t.strip_prefix("rule-"))
                    .filter_map(rules::find)
                    .map(|r| r.source)
                    .collect();
                let profile_only =
                    !sources.is_empty() && sources.iter().all(|s| *s == rules::Source::Profile);
                if profile_only != tags().any(|t| t == "profile") {
                    profile_mismatches.push(format!("{name}: {}", sc.name));
                }
                for t in tags() {
                    let Some(id) = t.strip_prefix("rule-") else {
                        continue;
                    };
                    let Some(r) = rules::find(id) else {
                        bail!("{name}: scenario {:?} names an unknown rule @rule-{id}", sc.name);
                    };
                    by_rule
                        .entry(r.id)
                        .or_default()
                        .push(format!("{name}: {}", sc.name));
                }
            }
        }
    }
    Ok(Coverage {
        by_rule,
        scenarios,
        profile_mismatches,
    })
}

/// Prints the table; Ok(true) when every rule has a scenario.
pub fn report(c: &Coverage) -> bool {
    for r in RULES {
        let list = c.by_rule.get(r.id).map(Vec::as_slice).unwrap_or_default();
        println!("{:<22} {:<9} {}", r.id, r.source.tag(), r.text);
        if list.is_empty() {
            println!("{:<32} NOT CHECKED BY ANY SCENARIO", "");
        }
        for s in list {
            println!("{:<32} {s}", "");
        }
    }
    let missing = c.uncovered();
    println!(
        "coverage: {} of {} rules checked by {} scenarios{}",
        RULES.len() - missing.len(),
        RULES.len(),
        c.scenarios,
        if missing.is_empty() {
            String::new()
        } else {
            format!("; unchecked: {}", missing.join(", "))
        }
    );
    missing.is_empty()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rule_is_checked_by_the_shipped_features() {
        let features = crate::workspace::workspace_dir().join("features");
        let c = super::compute(&[features]).unwrap();
        assert!(c.uncovered().is_empty(), "unchecked rules: {:?}", c.uncovered());
    }

    #[test]
    fn the_profile_tag_marks_exactly_the_scenarios_of_profile_rules() {
        let features = crate::workspace::workspace_dir().join("features");
        let c = super::compute(&[features]).unwrap();
        assert!(
            c.profile_mismatches.is_empty(),
            "@profile on a scenario with a [spec]/[app] rule, or missing on one with only [profile] rules: {:#?}",
            c.profile_mismatches
        );
    }
}
