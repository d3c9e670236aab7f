//! The bench strategy on a black-box plug (a hand-started plug-sim driven as
//! `kind = "external"`, `support/standin.rs`): a plug a scenario leaves provisioned and
//! connected, with nothing lasting changed, serves the next scenario that starts connected
//! without a reset or a new provisioning; and the verdicts do not depend on that, nor on
//! the order scenarios run in: the same scenarios are run with reuse, without it, and with
//! reuse in a shuffled order (features and scenarios), and every verdict must agree.
//! Wall times and counts are printed; the assertions are on verdicts and counts only.

#[path = "support/standin.rs"]
mod standin;

use std::path::{Path, PathBuf};

use plugrig::commands::run::{self, RunOptions, Summary};
use plugrig::drivers::timeline::Event;
use plugrig::scenario::record::{Outcome, ScenarioRecord};
use standin::{plug_sim_binary, StandIn};

/// Connected starts (switch, countdown, firmware_infor, session outages) between factory
/// starts (provisioning, reset, refused credentials), so that both the hold and the release
/// are exercised.
const TAGS: &str =
    "@switch or @countdown or @firmware_infor or @reset or @session or @provisioning and not @errors";

/// A loopback port for the tap, held for the test: a bench's tap listens on a fixed one.
fn tap_port() -> plugrig::drivers::reserved_port::ReservedPort {
    plugrig::drivers::reserved_port::ReservedPort::for_listener([127, 0, 0, 1].into()).expect("reserve")
}

fn rig_file(dir: &Path, plug: &StandIn, reuse: bool, tap_port: u16) -> PathBuf {
    let text = format!(
        "[rig]\nname = \"bench-strategy\"\ntime_scale = 10\n\n[dut]\n{dut}\
         broker_host = \"127.0.0.1\"\ntap_listen = \"127.0.0.1:{tap_port}\"\npower_monitoring = true\n\
         {broker}\n[run]\nreuse_connected = {reuse}\n",
        dut = plug.dut_keys(),
        broker = standin::BROKER_AND_RUN,
    );
    let path = dir.join(format!("rig-{reuse}.toml"));
    std::fs::write(&path, text).expect("write rig");
    path
}

/// A small deterministic generator (no dependency): the order must be reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.next(i + 1));
        }
    }
}

/// The feature files with their scenarios in another order, and the files themselves in
/// another order (the runner reads them sorted by name).
fn shuffled_features(into: &Path, seed: u64) -> PathBuf {
    let mut rng = Lcg(seed);
    let dir = into.join("features");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let src = run::workspace_dir().join("features");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("features")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    files.sort();
    rng.shuffle(&mut files);
    for (n, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).expect("read feature");
        let (head, mut blocks) = scenario_blocks(&text);
        rng.shuffle(&mut blocks);
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        std::fs::write(dir.join(format!("{n:02}-{name}")), head + &blocks.concat()).expect("write");
    }
    dir
}

/// A feature's text split into what comes before its first scenario and one block per
/// scenario (its tags, its steps, its examples).
fn scenario_blocks(text: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let starts_scenario = |i: usize| {
        let t = lines[i].trim_start();
        if t.starts_with("Scenario") {
            return !lines[..i].last().is_some_and(|p| p.trim_start().starts_with('@'));
        }
        t.starts_with('@')
            && lines[i + 1..]
                .iter()
                .map(|l| l.trim_start())
                .find(|l| !l.starts_with('@'))
                .is_some_and(|l| l.starts_with("Scenario"))
            && !lines[..i].last().is_some_and(|p| p.trim_start().starts_with('@'))
    };
    let cuts: Vec<usize> = (0..lines.len()).filter(|&i| starts_scenario(i)).collect();
    let join = |r: &[&str]| r.iter().map(|l| format!("{l}\n")).collect::<String>();
    let head = join(&lines[..cuts.first().copied().unwrap_or(lines.len())]);
    let blocks = cuts
        .iter()
        .enumerate()
        .map(|(k, &c)| join(&lines[c..cuts.get(k + 1).copied().unwrap_or(lines.len())]))
        .map(|b| if b.ends_with("\n\n") { b } else { b + "\n" })
        .collect();
    (head, blocks)
}

/// Every verdict, as (feature, scenario, outcome), in a stable order.
fn verdicts(s: &Summary) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = s
        .records
        .iter()
        .map(|r: &ScenarioRecord| {
            let o = match r.outcome {
                Outcome::Passed => "passed",
                Outcome::Failed => "failed",
                Outcome::Skipped => "skipped",
            };
            (r.feature_name.clone(), r.name.clone(), o.to_string())
        })
        .collect();
    v.sort();
    v
}

/// How often a scenario's timeline shows `note`, and how many 4003s were accepted.
fn count(s: &Summary, pred: impl Fn(&Event) -> bool) -> usize {
    s.records
        .iter()
        .flat_map(|r| r.world.timeline.iter())
        .filter(|e| pred(&e.event))
        .count()
}

fn taken_over(e: &Event) -> bool {
    matches!(e, Event::Note(n) if n.contains("left connected is taken over"))
}

fn provisioned(e: &Event) -> bool {
    matches!(e, Event::ApReceived(r) if r.contains("\"header\":4003") && r.contains("\"code\":0"))
}

#[test]
fn a_connected_plug_is_reused_and_the_verdicts_do_not_depend_on_it_or_on_order() {
    let bin = plug_sim_binary();
    let args: Vec<String> = ["--time-scale", "10"].iter().map(|s| s.to_string()).collect();
    let plug = StandIn::start(std::process::Command::new(&bin), &args);
    let dir = tempfile::tempdir().expect("tempdir");
    let held = tap_port();
    let tap_port = held.port();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let run = |rig: PathBuf, features: Vec<PathBuf>| {
        let opts = RunOptions {
            tags: Some(TAGS.into()),
            features,
            ..RunOptions::new(rig)
        };
        rt.block_on(run::run(opts)).expect("the run starts")
    };
    let reusing = run(rig_file(dir.path(), &plug, true, tap_port), Vec::new());
    let resetting = run(rig_file(dir.path(), &plug, false, tap_port), Vec::new());
    let shuffled = run(
        rig_file(dir.path(), &plug, true, tap_port),
        vec![shuffled_features(dir.path(), 0x5EED)],
    );
    for (name, s) in [
        ("reusing", &reusing),
        ("resetting", &resetting),
        ("shuffled", &shuffled),
    ] {
        println!(
            "{name}: {} passed, {} failed, {} skipped; wall {:.1} s; plug taken over {} times; provisioned {} times",
            s.counts.passed,
            s.counts.failed,
            s.counts.skipped,
            s.wall.as_secs_f64(),
            count(s, taken_over),
            count(s, provisioned)
        );
    }
    assert_eq!(reusing.counts.failed, 0, "{:?}", reusing.failures);
    assert!(reusing.counts.passed >= 15, "{reusing:?}");
    assert_eq!(
        verdicts(&reusing),
        verdicts(&resetting),
        "reuse changed a verdict"
    );
    assert_eq!(
        verdicts(&reusing),
        verdicts(&shuffled),
        "the order changed a verdict"
    );
    assert!(
        count(&reusing, taken_over) >= 5,
        "connected starts took the plug over"
    );
    assert_eq!(
        count(&resetting, taken_over),
        0,
        "reuse_connected = false never reuses"
    );
    assert!(
        count(&reusing, provisioned) < count(&resetting, provisioned),
        "reuse saves provisionings"
    );
    drop(plug);
}
