//! Retries, repeats and quarantine, on the simulated rig with plug-sim's faults:
//! - `--retries 2` with the intermittent `late-heartbeat-sometimes` (a seed whose first draw
//!   is late and whose second is not) and the deterministic `power-in-deciwatts`: the
//!   heartbeat scenario fails on timing, is retried and passes (a flaky pass, with a
//!   Surefire `<flakyFailure>`, a capture per attempt, two ledger rows and the class
//!   flaky); the metering scenario fails on content and is never retried;
//! - `--repeat 2` with the draws the other way round: the first round passes, the second
//!   fails, and the scenario fails (a repeat must pass every time);
//! - a quarantine file: a quarantined failure leaves the verdict green and is reported in a
//!   section of its own; an expired entry fails the run naming its line; a quarantined
//!   scenario that passed its last runs in the ledger is flagged ready to release.
//!
//! Ledgers on SQLite, and the retries also on a real PostgreSQL server (as `ledger_nights`).

#[path = "support/intermittent.rs"]
mod intermittent;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/suite.rs"]
mod suite;

use std::path::{Path, PathBuf};

use intermittent::draws_late_heartbeat;
use plugrig::commands::run::{self, RunOptions, Summary};
use plugrig::ledger::analysis::{self, Class};
use plugrig::ledger::{Ledger, RunFilter};
use plugrig::scenario::record::FailureClass;
use plugrig::scenario::record::Outcome;
use suite::run_suite as run;

const HEARTBEAT: &str = "The heartbeat comes every 30 s";
const ACCURACY: &str = "Samples agree with the reference meter with the relay on";
const BOTH: &str = "@rule-switch-heartbeat or (@rule-electricity-accuracy and not @profile)";
const ACCURACY_ONLY: &str = "@rule-electricity-accuracy and not @profile";

/// The first seed whose draws for passes 1 and 2 are `first` and `second`.
fn seed_drawing(first: bool, second: bool) -> u64 {
    (1..)
        .find(|s| draws_late_heartbeat(*s) == first && draws_late_heartbeat(s + 1) == second)
        .expect("a seed")
}

fn rig(dir: &Path, name: &str, faults: &[&str], seed: u64, run_extra: &str) -> PathBuf {
    let sim = run::default_rig_text().expect("rigs/sim.toml");
    let faults: Vec<String> = faults.iter().map(|f| format!("{f:?}")).collect();
    let mut text = sim.replacen(
        "kind = \"sim\"",
        &format!(
            "kind = \"sim\"\nfaults = [{}]\nfault_seed = {seed}",
            faults.join(", ")
        ),
        1,
    );
    if !run_extra.is_empty() {
        assert!(text.contains("[run]\n"), "rigs/sim.toml has no [run] table");
        text = text.replacen("[run]\n", &format!("[run]\n{run_extra}\n"), 1);
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write rig");
    path
}

fn record<'a>(s: &'a Summary, name: &str) -> &'a plugrig::scenario::record::ScenarioRecord {
    s.records
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no record of {name:?}: {}", s.line()))
}

fn retries_turn_a_late_heartbeat_into_a_flaky_pass(dest: &str) {
    let _one = suite::one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = seed_drawing(true, false);
    let report = dir.path().join("report");
    let s = run(RunOptions {
        tags: Some(BOTH.into()),
        history: Some(dest.into()),
        report: Some(report.clone()),
        retries: 2,
        ..RunOptions::new(rig(
            dir.path(),
            "retries",
            &["power-in-deciwatts", "late-heartbeat-sometimes"],
            seed,
            "",
        ))
    });
    let hb = record(&s, HEARTBEAT);
    assert_eq!(hb.outcome, Outcome::Passed, "{}", s.line());
    assert_eq!(hb.attempts.number, 2, "the verdict is the retry's");
    assert_eq!(hb.attempts.others.len(), 1);
    let first = &hb.attempts.others[0];
    assert_eq!(first.outcome, Outcome::Failed);
    assert_eq!(
        first.attempts.class,
        Some(FailureClass::Timing),
        "{:?}",
        first.first_error()
    );
    assert!(hb.flaky_pass());
    let acc = record(&s, ACCURACY);
    assert_eq!(acc.outcome, Outcome::Failed);
    assert_eq!(
        acc.attempts.class,
        Some(FailureClass::Content),
        "{:?}",
        acc.first_error()
    );
    assert_eq!(acc.attempts.total(), 1, "a failure on content is never retried");
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.flaky),
        (1, 1, 1),
        "{}",
        s.line()
    );
    assert_eq!(s.exit_code(), run::exit::FAILED);
    assert!(
        s.line().contains("1 of them after a retry: flaky"),
        "{}",
        s.line()
    );

    // JUnit in Surefire's form: the flaky pass carries its failed run, the content failure
    // no rerun.
    let junit = std::fs::read_to_string(report.join("features.junit.xml")).expect("junit");
    let case = |name: &str| -> String {
        let at = junit
            .find(&format!("<testcase name=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} in JUnit"));
        let end = junit[at..].find("</testcase>").expect("testcase end") + at;
        junit[at..end].to_string()
    };
    let hb_case = case(HEARTBEAT);
    assert!(
        hb_case.contains("<flakyFailure message=\"attempt 1: ") && hb_case.contains("type=\"timing\""),
        "{hb_case}"
    );
    assert!(!hb_case.contains("<failure"), "{hb_case}");
    let acc_case = case(ACCURACY);
    assert!(
        acc_case.contains("<failure") && acc_case.contains("type=\"content\""),
        "{acc_case}"
    );
    assert!(
        !acc_case.contains("rerunFailure") && !acc_case.contains("flakyFailure"),
        "{acc_case}"
    );
    // Each attempt keeps its own capture.
    let captures: Vec<String> = std::fs::read_dir(report.join("captures"))
        .expect("captures")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(
        captures
            .iter()
            .any(|c| c.starts_with("switch-") && c.ends_with("-attempt2.pcapng")),
        "{captures:?}"
    );
    let html = std::fs::read_to_string(report.join("index.html")).expect("html");
    assert!(
        html.contains("<h4>Attempts</h4>") && html.contains(">flaky</span>"),
        "the HTML shows the attempts"
    );

    // The ledger keeps both attempts; the history classes the heartbeat flaky ('R').
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (rows, hs) = rt.block_on(async {
        let l = Ledger::open(dest).await.expect("ledger");
        let runs = l.runs(&RunFilter::default()).await.expect("runs");
        let rows = l.scenarios_of(&runs).await.expect("rows");
        let hs = analysis::histories(&runs, &rows);
        (rows, hs)
    });
    let hb_rows: Vec<_> = rows.iter().filter(|r| r.name == HEARTBEAT).collect();
    assert_eq!(hb_rows.len(), 2, "{hb_rows:?}");
    assert!(hb_rows
        .iter()
        .any(|r| !r.verdict && r.outcome == "failed" && r.failure_class.as_deref() == Some("timing")));
    assert!(hb_rows
        .iter()
        .any(|r| r.verdict && r.outcome == "passed" && r.attempt == 2));
    let h = hs
        .iter()
        .find(|h| h.name == HEARTBEAT)
        .expect("heartbeat history");
    assert_eq!(h.cells[0].as_ref().map(|c| c.letter()), Some('R'));
    assert_eq!(h.class, Class::Flaky);
}

#[test]
fn retries_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    retries_turn_a_late_heartbeat_into_a_flaky_pass(&dir.path().join("ledger.db").display().to_string());
}

#[test]
fn retries_on_postgresql() {
    if let Some(pg) = postgres::server_for_test("retries_on_postgresql") {
        retries_turn_a_late_heartbeat_into_a_flaky_pass(&pg.url);
    }
}

#[test]
fn a_repeat_must_pass_every_round() {
    let _one = suite::one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = seed_drawing(false, true);
    let db = dir.path().join("ledger.db").display().to_string();
    let s = run(RunOptions {
        tags: Some("@rule-switch-heartbeat".into()),
        history: Some(db.clone()),
        repeat: 2,
        ..RunOptions::new(rig(dir.path(), "repeat", &["late-heartbeat-sometimes"], seed, ""))
    });
    let hb = record(&s, HEARTBEAT);
    assert_eq!(hb.outcome, Outcome::Failed, "round 2 failed: {}", s.line());
    assert_eq!(hb.attempts.number, 2);
    assert_eq!(hb.attempts.others.len(), 1);
    assert_eq!(hb.attempts.others[0].outcome, Outcome::Passed);
    assert_eq!(s.exit_code(), run::exit::FAILED);
    // Both outcomes on one build within a run: flaky in the ledger, its verdict a failure.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hs = rt.block_on(async {
        let l = Ledger::open(&db).await.expect("ledger");
        let runs = l.runs(&RunFilter::default()).await.expect("runs");
        let rows = l.scenarios_of(&runs).await.expect("rows");
        analysis::histories(&runs, &rows)
    });
    let h = hs.iter().find(|h| h.name == HEARTBEAT).expect("history");
    assert_eq!(h.cells[0].as_ref().map(|c| c.letter()), Some('F'));
    assert_eq!(h.class, Class::Flaky);
}

fn quarantine_file(dir: &Path, name: &str, expires: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "release_after = 2\n\n[[quarantine]]\nscenario = {ACCURACY:?}\nfeature = \"metering.feature\"\nreason = \"power in deciwatts\"\nlink = \"https://tracker.example/PLUG-7\"\nexpires = \"{expires}\"\n"
        ),
    )
    .expect("write quarantine");
    path
}

#[test]
fn quarantine_keeps_a_known_failure_out_of_the_verdict_until_it_expires() {
    let _one = suite::one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let faulty = rig(dir.path(), "faulty", &["power-in-deciwatts"], 0, "");

    let report = dir.path().join("report");
    let q = quarantine_file(dir.path(), "q.toml", "2999-12-31");
    let s = run(RunOptions {
        tags: Some(ACCURACY_ONLY.into()),
        report: Some(report.clone()),
        quarantine: Some(q),
        ..RunOptions::new(faulty.clone())
    });
    let acc = record(&s, ACCURACY);
    assert_eq!(acc.outcome, Outcome::Failed, "the fault is there");
    assert!(acc.quarantine.is_some());
    assert_eq!(
        (s.counts.failed, s.counts.quarantined, s.counts.quarantined_failed),
        (0, 1, 1),
        "{}",
        s.line()
    );
    assert_eq!(
        s.exit_code(),
        run::exit::PASSED,
        "a quarantined failure does not fail the run"
    );
    let verdict = std::fs::read_to_string(report.join("verdict.txt")).expect("verdict");
    assert!(
        verdict.contains("Quarantined") && verdict.contains("power in deciwatts"),
        "{verdict}"
    );
    let junit = std::fs::read_to_string(report.join("features.junit.xml")).expect("junit");
    assert!(
        junit.contains("<skipped message=\"quarantined (power in deciwatts)"),
        "{junit}"
    );
    let html = std::fs::read_to_string(report.join("index.html")).expect("html");
    assert!(html.contains("id=\"quarantine\"") && html.contains("https://tracker.example/PLUG-7"));

    // Expired yesterday: it protects nothing, and the run fails naming the entry's line.
    let yesterday = {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            / 86_400
            - 1;
        civil(days as i64)
    };
    let q = quarantine_file(dir.path(), "expired.toml", &yesterday);
    let s = run(RunOptions {
        tags: Some(ACCURACY_ONLY.into()),
        quarantine: Some(q.clone()),
        ..RunOptions::new(faulty)
    });
    assert_eq!(s.counts.quarantined, 0);
    assert_eq!(s.counts.failed, 1, "{}", s.line());
    assert_eq!(s.quarantine_expired.len(), 1);
    assert!(
        s.quarantine_expired[0].starts_with(&format!("{}:3: the quarantine of scenario", q.display())),
        "{}",
        s.quarantine_expired[0]
    );
    assert_eq!(s.exit_code(), run::exit::FAILED);

    // Fixed firmware: after passing its last 2 runs in the ledger, ready to release.
    let fixed = rig(dir.path(), "fixed", &[], 0, "");
    let db = dir.path().join("ledger.db").display().to_string();
    let q = quarantine_file(dir.path(), "q.toml", "2999-12-31");
    let mut ready = Vec::new();
    for _ in 0..2 {
        let s = run(RunOptions {
            tags: Some(ACCURACY_ONLY.into()),
            quarantine: Some(q.clone()),
            history: Some(db.clone()),
            ..RunOptions::new(fixed.clone())
        });
        assert_eq!(s.exit_code(), run::exit::PASSED, "{}", s.line());
        let acc = record(&s, ACCURACY);
        ready.push(acc.quarantine.as_ref().map(|a| a.ready_to_release));
    }
    assert_eq!(ready, [Some(false), Some(true)], "one run is not yet two");
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (Howard Hinnant's algorithm).
fn civil(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn exit_codes_suit_git_bisect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugrig = env!("CARGO_BIN_EXE_plugrig");
    // The plug could not be built or started: no verdict, 125 ("skip" to git bisect).
    let out = std::process::Command::new(plugrig)
        .args(["run", "--tags", "@rule-switch-on-change"])
        .env("PLUGRIG_SIM_BIN", dir.path().join("no-such-plug-sim"))
        .output()
        .expect("plugrig runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("no verdict on the plug"), "{err}");
    // A malformed quarantine file is the user's mistake: 2, naming the line and the key.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[quarantine]]\nscenario = \"x\"\nreason = \"r\"\nlink = \"l\"\nexpire = \"2027-01-01\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(plugrig)
        .args(["run", "--quarantine"])
        .arg(&bad)
        .output()
        .expect("plugrig runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml:5:") && err.contains("expire"), "{err}");
    // So is a malformed tag expression.
    let out = std::process::Command::new(plugrig)
        .args(["run", "--tags", "@a and ("])
        .output()
        .expect("plugrig runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
