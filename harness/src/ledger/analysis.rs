//! What the ledger's rows mean across runs: each scenario's outcome run by run, its class
//! (stable, flaky, broken), each rule's pass rate, each measurement's trend, and what
//! changed between two runs. Pure functions of the rows: no database here.

use std::collections::{BTreeMap, BTreeSet};

use super::rows::{LedgerRun, MeasurementRow, ScenarioRow};

/// A scenario's outcome in one run: its last attempt's, and how many attempts it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub outcome: String,
    pub attempts: i64,
    /// Another attempt of the run failed (with this one passed: a flaky pass).
    pub failed_before: bool,
    /// Another attempt of the run passed (with this one failed, under `--repeat`: both
    /// outcomes in one run).
    pub passed_other: bool,
    pub failure: Option<String>,
    pub rig_failure: Option<String>,
    /// The quarantine entry it fell under in that run, if any.
    pub quarantine: Option<String>,
}

impl Cell {
    pub fn letter(&self) -> char {
        match self.outcome.as_str() {
            "passed" if self.failed_before => 'R',
            "passed" => 'P',
            "failed" if self.rig_failure.is_some() => 'E',
            "failed" => 'F',
            _ => 'S',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// The same outcome whenever it ran on the same firmware and rig.
    Stable,
    /// Both outcomes on the same firmware image and rig (across runs, or across the
    /// attempts of one run).
    Flaky,
    /// Failing on every run since the run of this index (into the runs given), and not
    /// flaky.
    Broken { since: usize },
}

impl Class {
    pub fn name(&self) -> &'static str {
        match self {
            Class::Stable => "stable",
            Class::Flaky => "flaky",
            Class::Broken { .. } => "broken",
        }
    }
}

/// One scenario across the runs.
#[derive(Debug, Clone)]
pub struct ScenarioHistory {
    pub feature: String,
    pub feature_name: String,
    pub name: String,
    pub rules: Vec<String>,
    /// One per run, in the runs' order; None where it did not run.
    pub cells: Vec<Option<Cell>>,
    pub class: Class,
}

/// A scenario as it accumulates across runs: its first line, feature name, rules, cells.
type Accumulated = (i64, String, Vec<String>, Vec<Option<Cell>>);
/// What a scenario's flakiness is judged within (`LedgerRun::build_key`).
type BuildKey<'a> = (Option<&'a str>, Option<&'a str>, &'a str);
/// A measurement's values, run by run, with its unit.
type PerRun<'a> = (String, Vec<Vec<&'a MeasurementRow>>);

/// The scenarios of `rows` across `runs` (oldest first), in feature and line order.
pub fn histories(runs: &[LedgerRun], rows: &[ScenarioRow]) -> Vec<ScenarioHistory> {
    let index: BTreeMap<&str, usize> = runs.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    // (feature, name) -> (first line seen, feature_name, rules, cells)
    let mut by: BTreeMap<(String, String), Accumulated> = BTreeMap::new();
    for r in rows {
        let Some(&i) = index.get(r.run_id.as_str()) else {
            continue;
        };
        let e = by.entry(r.key()).or_insert_with(|| {
            (
                r.line,
                r.feature_name.clone(),
                r.rules.split_whitespace().map(str::to_string).collect(),
                vec![None; runs.len()],
            )
        });
        let cell = e.3[i].get_or_insert_with(|| Cell {
            outcome: String::new(),
            attempts: 0,
            failed_before: false,
            passed_other: false,
            failure: None,
            rig_failure: None,
            quarantine: None,
        });
        cell.attempts = cell.attempts.max(r.attempt);
        if r.verdict {
            cell.outcome = r.outcome.clone();
            cell.failure = r.failure.clone();
            cell.rig_failure = r.rig_failure.clone();
            cell.quarantine = r.quarantine.clone();
        } else if r.outcome == "failed" && r.rig_failure.is_none() {
            cell.failed_before = true;
        } else if r.outcome == "passed" {
            cell.passed_other = true;
        }
    }
    let mut out: Vec<(i64, ScenarioHistory)> = by
        .into_iter()
        .map(|((feature, name), (line, feature_name, rules, cells))| {
            let class = classify(runs, &cells);
            (
                line,
                ScenarioHistory {
                    feature,
                    feature_name,
                    name,
                    rules,
                    cells,
                    class,
                },
            )
        })
        .collect();
    out.sort_by(|a, b| (a.1.feature.as_str(), a.0).cmp(&(b.1.feature.as_str(), b.0)));
    out.into_iter().map(|(_, h)| h).collect()
}

/// The class of one scenario's cells. Skips and the rig's failures say nothing about the
/// plug and are left out.
pub fn classify(runs: &[LedgerRun], cells: &[Option<Cell>]) -> Class {
    let judged = |c: &Cell| matches!(c.letter(), 'P' | 'F' | 'R');
    let mut seen: BTreeMap<BuildKey, BTreeSet<bool>> = BTreeMap::new();
    for (run, cell) in runs.iter().zip(cells) {
        let Some(c) = cell.as_ref().filter(|c| judged(c)) else {
            continue;
        };
        let set = seen.entry(run.build_key()).or_default();
        set.insert(c.outcome == "passed");
        if c.failed_before {
            set.insert(false);
        }
        if c.passed_other {
            set.insert(true);
        }
    }
    if seen.values().any(|s| s.len() == 2) {
        return Class::Flaky;
    }
    // The trailing streak of failures.
    let mut since = None;
    for (i, cell) in cells.iter().enumerate().rev() {
        match cell.as_ref().filter(|c| judged(c)) {
            Some(c) if c.outcome == "failed" => since = Some(i),
            Some(_) => break,
            None => continue,
        }
    }
    match since {
        Some(since) => Class::Broken { since },
        None => Class::Stable,
    }
}

/// Each rule's passes and failures (scenarios' final outcomes) over the runs.
pub fn rule_pass_rates(histories: &[ScenarioHistory]) -> BTreeMap<String, (usize, usize)> {
    let mut rates: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for h in histories {
        for c in h.cells.iter().flatten() {
            let (pass, fail) = match c.letter() {
                'P' | 'R' => (1, 0),
                'F' => (0, 1),
                _ => continue,
            };
            for r in &h.rules {
                let e = rates.entry(r.clone()).or_default();
                e.0 += pass;
                e.1 += fail;
            }
        }
    }
    rates
}

/// One measurement of one scenario across the runs: per run the values taken (a series'
/// intervals, a metering scenario's samples) and the limits of the last of them.
#[derive(Debug, Clone)]
pub struct Trend {
    pub feature: String,
    pub scenario_line: i64,
    pub name: String,
    pub unit: String,
    /// Per run (the runs' order): (min, mean, max, low, high, all passed), or None.
    pub points: Vec<Option<TrendPoint>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendPoint {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub pass: bool,
}

pub fn trends(runs: &[LedgerRun], rows: &[MeasurementRow]) -> Vec<Trend> {
    let index: BTreeMap<&str, usize> = runs.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    let mut by: BTreeMap<(String, i64, String), PerRun> = BTreeMap::new();
    for m in rows {
        let Some(&i) = index.get(m.run_id.as_str()) else {
            continue;
        };
        let e = by
            .entry((m.feature.clone(), m.line, m.name.clone()))
            .or_insert_with(|| (m.unit.clone(), vec![Vec::new(); runs.len()]));
        e.1[i].push(m);
    }
    by.into_iter()
        .map(|((feature, line, name), (unit, per_run))| Trend {
            feature,
            scenario_line: line,
            name,
            unit,
            points: per_run
                .iter()
                .map(|ms| {
                    let last = ms.last()?;
                    let n = ms.len() as f64;
                    Some(TrendPoint {
                        min: ms.iter().map(|m| m.value).fold(f64::INFINITY, f64::min),
                        mean: ms.iter().map(|m| m.value).sum::<f64>() / n,
                        max: ms.iter().map(|m| m.value).fold(f64::NEG_INFINITY, f64::max),
                        low: last.low,
                        high: last.high,
                        pass: ms.iter().all(|m| m.pass),
                    })
                })
                .collect(),
        })
        .collect()
}

/// What changed from run A to run B.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Passed in A, failed in B (the plug's failures, not the rig's).
    pub regressions: Vec<String>,
    /// Failed in A, passed in B.
    pub fixes: Vec<String>,
    pub new: Vec<String>,
    pub removed: Vec<String>,
    /// Outcomes that changed otherwise (to or from a skip or a rig failure).
    pub other: Vec<String>,
    /// Measurements whose mean moved by more than their tolerance (half the limits band).
    pub moved: Vec<String>,
}

impl Comparison {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut section = |title: &str, list: &[String]| {
            out.push_str(&format!("{title}: {}\n", list.len()));
            for l in list {
                out.push_str(&format!("  {l}\n"));
            }
        };
        section("regressions (passed, now failed)", &self.regressions);
        section("fixes (failed, now passed)", &self.fixes);
        section("new scenarios", &self.new);
        section("removed scenarios", &self.removed);
        section("other changes", &self.other);
        section("measurements moved by more than their tolerance", &self.moved);
        out
    }
}

/// Compares the scenarios and measurements of run `a` with those of run `b`.
pub fn compare(
    a: (&LedgerRun, &[ScenarioRow], &[MeasurementRow]),
    b: (&LedgerRun, &[ScenarioRow], &[MeasurementRow]),
) -> Comparison {
    let runs = [a.0.clone(), b.0.clone()];
    let rows: Vec<ScenarioRow> = a.1.iter().chain(b.1).cloned().collect();
    let hs = histories(&runs, &rows);
    let mut c = Comparison::default();
    for h in &hs {
        let what = format!("{}: {}", h.feature_name, h.name);
        match (&h.cells[0], &h.cells[1]) {
            (None, Some(_)) => c.new.push(what),
            (Some(_), None) => c.removed.push(what),
            (Some(x), Some(y)) => match (x.letter(), y.letter()) {
                // A known failure, quarantined: listed, but no regression to gate on.
                ('P' | 'R', 'F') if y.quarantine.is_some() => c.other.push(format!(
                    "{what}: {} -> F (quarantined: {})",
                    x.letter(),
                    y.quarantine.as_deref().unwrap_or_default()
                )),
                ('P' | 'R', 'F') => c.regressions.push(format!(
                    "{what}\n    {}",
                    y.failure.as_deref().and_then(|f| f.lines().next()).unwrap_or("")
                )),
                ('F', 'P' | 'R') => c.fixes.push(what),
                (p, q) if p != q && !matches!((p, q), ('P', 'R') | ('R', 'P')) => {
                    c.other.push(format!("{what}: {p} -> {q}"))
                }
                _ => {}
            },
            (None, None) => {}
        }
    }
    let ms: Vec<MeasurementRow> = a.2.iter().chain(b.2).cloned().collect();
    for t in trends(&runs, &ms) {
        let (Some(x), Some(y)) = (t.points[0], t.points[1]) else {
            continue;
        };
        let tol = match (y.low, y.high) {
            (Some(l), Some(h)) => (h - l) / 2.0,
            _ => continue,
        };
        if (y.mean - x.mean).abs() > tol {
            c.moved.push(format!(
                "{}:{} {}: mean {:.4} -> {:.4} {} (tolerance {:.4})",
                t.feature, t.scenario_line, t.name, x.mean, y.mean, t.unit, tol
            ));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(i: usize, fw: &str) -> LedgerRun {
        LedgerRun {
            id: format!("{i:016x}-{i}"),
            status: "complete".into(),
            started: format!("2026-12-{:02}T00:00:00Z", i + 1),
            ended: None,
            host: "h".into(),
            plugrig_version: "0.1.0".into(),
            plugrig_commit: "c".into(),
            plugrig_tree: "clean".into(),
            rig_name: "sim".into(),
            rig_sha256: "r".into(),
            firmware_sha256: Some(fw.into()),
            firmware_flags: Some(String::new()),
            dut_prefix: None,
            dut_firmware_version: Some(fw.into()),
            passed: None,
            failed: None,
            skipped: None,
            wall_s: None,
        }
    }

    fn cell(outcome: &str) -> Option<Cell> {
        Some(Cell {
            outcome: outcome.into(),
            attempts: 1,
            failed_before: false,
            passed_other: false,
            failure: None,
            rig_failure: None,
            quarantine: None,
        })
    }

    #[test]
    fn both_outcomes_on_one_build_is_flaky_a_new_build_that_fails_throughout_is_broken() {
        let runs: Vec<LedgerRun> = ["a", "a", "b", "b"]
            .iter()
            .enumerate()
            .map(|(i, f)| run(i, f))
            .collect();
        let (p, f) = (cell("passed"), cell("failed"));
        // Firmware a passes, firmware b fails on both of its runs: broken since run 3.
        assert_eq!(
            classify(&runs, &[p.clone(), p.clone(), f.clone(), f.clone()]),
            Class::Broken { since: 2 }
        );
        // Firmware a both passes and fails: flaky, whatever came after.
        assert_eq!(
            classify(&runs, &[p.clone(), f.clone(), p.clone(), p.clone()]),
            Class::Flaky
        );
        // Firmware b fails, then passes: flaky.
        assert_eq!(
            classify(&runs, &[p.clone(), p.clone(), f.clone(), p.clone()]),
            Class::Flaky
        );
        // Firmware a fails on both runs, b passes on both: fixed, stable.
        assert_eq!(
            classify(&runs, &[f.clone(), f.clone(), p.clone(), p.clone()]),
            Class::Stable
        );
        // Skips and the rig's failures say nothing about the plug.
        let mut rig = f.clone();
        if let Some(c) = rig.as_mut() {
            c.rig_failure = Some("the rig failed".into());
        }
        assert_eq!(
            classify(&runs, &[p.clone(), rig, cell("skipped"), p]),
            Class::Stable
        );
    }
}
