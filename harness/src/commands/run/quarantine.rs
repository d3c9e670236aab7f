//! Quarantine with an expiry: scenarios known to fail, for a reason someone is tracking,
//! that a nightly job should not go red on meanwhile. They still run; their outcomes are
//! reported in a section of their own with the reason, and do not change the exit code.
//! Every entry expires: an expired entry protects nothing, and fails the run with one
//! message naming it, so a quarantine cannot quietly become permanent.
//!
//! The file (`plugrig run --quarantine FILE`, or `[run] quarantine` in the rig file, a
//! path relative to the rig file):
//!
//! ```toml
//! # A quarantined scenario that passed its last N runs in the ledger is flagged ready to
//! # release (default 5).
//! release_after = 5
//!
//! [[quarantine]]
//! scenario = "The heartbeat comes every 30 s"   # a scenario's name, or:
//! # rule = "switch-heartbeat"                   # every scenario checking this rule
//! feature = "Switch"                            # optional: the Feature's name or file
//! reason = "heartbeat late after a WiFi roam on 1.0.x"
//! link = "https://tracker.example/PLUG-123"
//! expires = "2027-01-31"                        # through the end of that day, UTC
//! firmware = ">=1.0.0, <1.1.0"                  # optional: only for these versions
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::scenario::record::{Applied, DutIdentity, Outcome, ScenarioRecord};

fn release_after() -> usize {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default = "release_after")]
    release_after: usize,
    #[serde(default)]
    quarantine: Vec<EntryText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryText {
    scenario: Option<Spanned<String>>,
    rule: Option<Spanned<String>>,
    feature: Option<String>,
    reason: Spanned<String>,
    link: Spanned<String>,
    expires: Spanned<String>,
    firmware: Option<Spanned<String>>,
}

/// What an entry covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A scenario by name, in a feature (its name or file) if given.
    Scenario { name: String, feature: Option<String> },
    /// Every scenario tagged `@rule-<id>`.
    Rule(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub target: Target,
    pub reason: String,
    pub link: String,
    /// The last day it holds (UTC), as written and in days since 1970-01-01.
    pub expires: String,
    expires_day: i64,
    pub firmware: Option<VersionRange>,
    /// Its `[[quarantine]]` line in the file.
    pub line: usize,
}

/// A quarantine file, read and checked.
#[derive(Debug, Clone)]
pub struct Quarantine {
    pub path: PathBuf,
    pub release_after: usize,
    pub entries: Vec<Entry>,
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_day(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Today (UTC) in days since 1970-01-01.
pub fn today(now: SystemTime) -> i64 {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

/// A firmware version range: comparators (`>=1.0.0`, `<1.1`, `=1.0.2`) joined by commas,
/// all of which must hold. Versions compare part by part, numerically where both parts
/// are numbers (`1.10 > 1.9`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    text: String,
    comparators: Vec<(Op, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl VersionRange {
    pub fn parse(text: &str) -> Result<VersionRange, String> {
        let mut comparators = Vec::new();
        for part in text.split(',') {
            let p = part.trim();
            let (op, v) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(s, op)| p.strip_prefix(s).map(|v| (*op, v.trim())))
            .ok_or_else(|| format!("{p:?} is not a comparator (>=, <=, >, < or = and a version)"))?;
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err(format!("{p:?}: no version after the comparator"));
            }
            comparators.push((op, v.to_string()));
        }
        Ok(VersionRange {
            text: text.to_string(),
            comparators,
        })
    }

    pub fn contains(&self, version: &str) -> bool {
        self.comparators.iter().all(|(op, v)| {
            let o = compare_versions(version, v);
            match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                Op::Ge => o.is_ge(),
                Op::Eq => o.is_eq(),
            }
        })
    }
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| s.split(['.', '-']).map(str::to_string).collect::<Vec<_>>();
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).map_or("0", String::as_str),
            b.get(i).map_or("0", String::as_str),
        );
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

/// Reads and checks a quarantine file; every mistake names the file, the line and the key.
pub fn load(path: &Path) -> anyhow::Result<Quarantine> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading quarantine file {}", path.display()))?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> anyhow::Result<Quarantine> {
    let at = |line: usize, msg: String| anyhow::anyhow!("{}:{line}: {msg}", path.display());
    let file: FileText = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        match e.span() {
            Some(s) => at(crate::rig::error_line(text, s.start, &msg), msg),
            None => anyhow::anyhow!("{}: {msg}", path.display()),
        }
    })?;
    if file.release_after == 0 {
        anyhow::bail!("{}: release_after must be at least 1", path.display());
    }
    let mut entries = Vec::new();
    for e in file.quarantine {
        // The entry's `[[quarantine]]` line: the last one before its reason.
        let line = text[..e.reason.span().start]
            .rfind("[[quarantine]]")
            .map_or_else(|| line_of(text, e.reason.span().start), |i| line_of(text, i));
        let target = match (&e.scenario, &e.rule) {
            (Some(s), None) if !s.get_ref().trim().is_empty() => Target::Scenario {
                name: s.get_ref().clone(),
                feature: e.feature.clone(),
            },
            (None, Some(r)) if !r.get_ref().trim().is_empty() => {
                if e.feature.is_some() {
                    return Err(at(
                        line_of(text, r.span().start),
                        "feature: only with scenario (a rule entry covers every feature)".into(),
                    ));
                }
                Target::Rule(r.get_ref().trim_start_matches("rule-").to_string())
            }
            (Some(_), Some(r)) => {
                return Err(at(
                    line_of(text, r.span().start),
                    "rule: an entry names a scenario or a rule, not both".into(),
                ));
            }
            (Some(s), None) => return Err(at(line_of(text, s.span().start), "scenario: empty".into())),
            (None, Some(r)) => return Err(at(line_of(text, r.span().start), "rule: empty".into())),
            (None, None) => {
                return Err(at(
                    line,
                    "the entry names neither a scenario (scenario = \"...\") nor a rule (rule = \"...\")"
                        .into(),
                ));
            }
        };
        for (key, v) in [("reason", &e.reason), ("link", &e.link)] {
            if v.get_ref().trim().is_empty() {
                return Err(at(
                    line_of(text, v.span().start),
                    format!("{key}: must not be empty: say why, and where it is tracked"),
                ));
            }
        }
        let expires_day = parse_day(e.expires.get_ref()).ok_or_else(|| {
            at(
                line_of(text, e.expires.span().start),
                format!("expires: {:?} is not a date YYYY-MM-DD", e.expires.get_ref()),
            )
        })?;
        let firmware = e
            .firmware
            .as_ref()
            .map(|f| {
                VersionRange::parse(f.get_ref())
                    .map_err(|m| at(line_of(text, f.span().start), format!("firmware: {m}")))
            })
            .transpose()?;
        entries.push(Entry {
            target,
            reason: e.reason.into_inner(),
            link: e.link.into_inner(),
            expires: e.expires.into_inner(),
            expires_day,
            firmware,
            line,
        });
    }
    Ok(Quarantine {
        path: path.to_path_buf(),
        release_after: file.release_after,
        entries,
    })
}

impl Entry {
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Scenario {
                name,
                feature: Some(f),
            } => format!("scenario {name:?} of {f:?}"),
            Target::Scenario { name, feature: None } => format!("scenario {name:?}"),
            Target::Rule(r) => format!("rule {r}"),
        }
    }

    pub fn expired(&self, today: i64) -> bool {
        today > self.expires_day
    }

    fn covers(&self, s: &ScenarioRecord) -> bool {
        match &self.target {
            Target::Scenario { name, feature } => {
                s.name == *name
                    && feature
                        .as_ref()
                        .is_none_or(|f| s.feature_name == *f || s.key.feature.ends_with(f.as_str()))
            }
            Target::Rule(r) => s.rules().any(|x| x == r),
        }
    }

    fn holds_for(&self, firmware: Option<&str>) -> bool {
        match (&self.firmware, firmware) {
            (None, _) => true,
            (Some(range), Some(v)) => range.contains(v),
            // A range, and the plug never said its version: the entry cannot be shown to hold.
            (Some(_), None) => false,
        }
    }
}

impl Quarantine {
    /// `FILE:LINE` of an entry.
    pub fn place(&self, e: &Entry) -> String {
        format!("{}:{}", self.path.display(), e.line)
    }

    /// The entries that have expired by `today`, each as one message.
    pub fn expired(&self, today: i64) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.expired(today))
            .map(|e| {
                format!(
                    "{}: the quarantine of {} expired on {} (reason: {}; {}): fix it, or renew the entry with a new date",
                    self.place(e),
                    e.describe(),
                    e.expires,
                    e.reason,
                    e.link
                )
            })
            .collect()
    }

    /// Marks every scenario an entry in force covers (not expired, its firmware range
    /// holding for the version the plug reported). Returns how many were marked.
    pub fn apply(&self, scenarios: &mut [ScenarioRecord], dut: &DutIdentity, today: i64) -> usize {
        let mut n = 0;
        for s in scenarios.iter_mut() {
            let entry = self
                .entries
                .iter()
                .find(|e| !e.expired(today) && e.holds_for(dut.firmware_version.as_deref()) && e.covers(s));
            if let Some(e) = entry {
                s.quarantine = Some(Applied {
                    entry: self.place(e),
                    reason: e.reason.clone(),
                    link: e.link.clone(),
                    expires: e.expires.clone(),
                    ready_to_release: false,
                });
                n += 1;
            }
        }
        n
    }
}

/// The closing lines of the quarantine section: each quarantined scenario with its outcome
/// and its entry; empty when none.
pub fn section(scenarios: &[ScenarioRecord]) -> String {
    let mut out = String::new();
    for s in scenarios {
        let Some(q) = &s.quarantine else { continue };
        if out.is_empty() {
            out.push_str("Quarantined (run and reported; not counted in the verdict):\n");
        }
        let outcome = match s.outcome {
            Outcome::Failed => format!("failed: {}", s.first_error().unwrap_or("(no error text)")),
            o => o.as_str().to_string(),
        };
        out.push_str(&format!(
            "  {} — {outcome}\n    {} ({}; until {}; {}){}\n",
            s.name,
            q.reason,
            q.link,
            q.expires,
            q.entry,
            if q.ready_to_release {
                "\n    ready to release: it passed its last runs in the ledger; remove the entry"
            } else {
                ""
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"release_after = 3

[[quarantine]]
scenario = "The heartbeat comes every 30 s"
reason = "late after a roam"
link = "https://tracker.example/PLUG-1"
expires = "2027-01-31"

[[quarantine]]
rule = "electricity-accuracy"
reason = "meter drift on 1.0.x"
link = "https://tracker.example/PLUG-2"
expires = "2026-12-01"
firmware = ">=1.0.0, <1.1"
"#;

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, Path::new("q.toml")).expect_err("malformed"))
    }

    fn scenario(name: &str, tags: &[&str], outcome: Outcome) -> ScenarioRecord {
        ScenarioRecord {
            key: crate::scenario::record::ScenarioKey {
                feature: "features/switch.feature".into(),
                line: 7,
            },
            feature_name: "Switch".into(),
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            outcome,
            steps: Vec::new(),
            duration: std::time::Duration::ZERO,
            world: Default::default(),
            skip_reason: None,
            attempts: Default::default(),
            quarantine: None,
        }
    }

    #[test]
    fn entries_read_with_their_lines() {
        let q = parse(GOOD, Path::new("q.toml")).expect("good");
        assert_eq!(q.release_after, 3);
        assert_eq!(q.entries.len(), 2);
        assert_eq!(q.entries[0].line, 3);
        assert_eq!(q.entries[1].line, 9);
        assert_eq!(q.entries[1].target, Target::Rule("electricity-accuracy".into()));
    }

    #[test]
    fn mistakes_name_the_line_and_the_key() {
        let e =
            err("[[quarantine]]\nscenario = \"x\"\nreason = \"r\"\nlink = \"l\"\nexpires = \"2027-02-30\"\n");
        assert!(e.starts_with("q.toml:5: expires:"), "{e}");
        let e = err("[[quarantine]]\nscenario = \"x\"\nreason = \"r\"\nlink = \"l\"\nexpires = \"2027-02-01\"\nowner = \"me\"\n");
        assert!(e.starts_with("q.toml:6:") && e.contains("owner"), "{e}");
        let e = err("[[quarantine]]\nreason = \"r\"\nlink = \"l\"\nexpires = \"2027-02-01\"\n");
        assert!(
            e.starts_with("q.toml:1:") && e.contains("neither a scenario"),
            "{e}"
        );
        let e = err("[[quarantine]]\nscenario = \"x\"\nrule = \"y\"\nreason = \"r\"\nlink = \"l\"\nexpires = \"2027-02-01\"\n");
        assert!(e.starts_with("q.toml:3: rule:"), "{e}");
        let e =
            err("[[quarantine]]\nscenario = \"x\"\nreason = \"r\"\nlink = \"\"\nexpires = \"2027-02-01\"\n");
        assert!(e.starts_with("q.toml:4: link:"), "{e}");
        let e = err("[[quarantine]]\nscenario = \"x\"\nreason = \"r\"\nlink = \"l\"\nexpires = \"2027-02-01\"\nfirmware = \"~1.0\"\n");
        assert!(e.starts_with("q.toml:6: firmware:"), "{e}");
        let e = err("[[quarantine]]\nscenario = \"x\"\nlink = \"l\"\nexpires = \"2027-02-01\"\n");
        assert!(e.contains("reason"), "{e}");
    }

    #[test]
    fn an_entry_expires_after_its_last_day() {
        let q = parse(GOOD, Path::new("q.toml")).expect("good");
        let dec1 = parse_day("2026-12-01").expect("date");
        assert!(q.expired(dec1).is_empty(), "still in force on its last day");
        let expired = q.expired(dec1 + 1);
        assert_eq!(expired.len(), 1);
        assert!(
            expired[0]
                .starts_with("q.toml:9: the quarantine of rule electricity-accuracy expired on 2026-12-01"),
            "{}",
            expired[0]
        );
        assert_eq!(
            today(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 3 + 5)),
            3
        );
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-03-01"), Some(11_017));
    }

    #[test]
    fn it_covers_by_name_or_rule_within_its_firmware_range() {
        let q = parse(GOOD, Path::new("q.toml")).expect("good");
        let day = parse_day("2026-11-20").expect("date");
        let mut list = vec![
            scenario(
                "The heartbeat comes every 30 s",
                &["rule-switch-heartbeat"],
                Outcome::Failed,
            ),
            scenario("Samples agree", &["rule-electricity-accuracy"], Outcome::Failed),
            scenario("Other", &["rule-switch-echo"], Outcome::Failed),
        ];
        let dut = |v: &str| DutIdentity {
            firmware_version: Some(v.into()),
            ..DutIdentity::default()
        };
        assert_eq!(q.apply(&mut list, &dut("1.0.7"), day), 2);
        assert_eq!(
            list[1].quarantine.as_ref().map(|a| a.entry.as_str()),
            Some("q.toml:9")
        );
        assert!(list[2].quarantine.is_none());
        for s in &mut list {
            s.quarantine = None;
        }
        assert_eq!(
            q.apply(&mut list, &dut("1.10.0"), day),
            1,
            "outside the firmware range"
        );
        for s in &mut list {
            s.quarantine = None;
        }
        assert_eq!(
            q.apply(&mut list, &DutIdentity::default(), day),
            1,
            "no version reported"
        );
        for s in &mut list {
            s.quarantine = None;
        }
        let later = parse_day("2026-12-02").expect("date");
        assert_eq!(
            q.apply(&mut list, &dut("1.0.7"), later),
            1,
            "the expired entry covers nothing"
        );
    }

    #[test]
    fn versions_compare_part_by_part() {
        let r = VersionRange::parse(">=1.0.0, <1.10").expect("range");
        assert!(r.contains("1.0.0") && r.contains("1.9.3") && !r.contains("1.10.0") && !r.contains("0.9"));
        assert!(VersionRange::parse("=2.1").expect("eq").contains("2.1.0"));
    }
}
