//! The `plugrig` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use plugrig::commands::run::{self, RunOptions};
use plugrig::drivers::farm::{self, Ended};

#[derive(Parser)]
#[command(
    name = "plugrig",
    about = "Conformance harness for MK102/MK112 MQTT smart plugs",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Gherkin features against a rig. Exits 0 only when every selected scenario
    /// passed (a skipped scenario or an undefined step is not a pass); 1 when the plug
    /// failed a scenario (or a quarantine entry expired); 2 for a mistake in the command
    /// line, the rig file, a quarantine file or a feature file; 125 when the rig could not
    /// judge the plug (a build or flash failure, a failed rig check, the rig's own failure,
    /// a skipped scenario): `git bisect run` skips such a commit.
    Run {
        /// Rig file (TOML). Default: rigs/sim.toml, the simulated rig.
        #[arg(long)]
        rig: Option<PathBuf>,
        /// The plug's declaration (TOML, e.g. plugs/plug-sim.toml): what the plug claims,
        /// checked for consistency before the run and against the plug as it starts.
        /// Default: the one the rig's `[dut] plug` names.
        #[arg(long, value_name = "FILE")]
        plug: Option<PathBuf>,
        /// Tag expression selecting scenarios, e.g. "@provisioning and not @errors".
        #[arg(long)]
        tags: Option<String>,
        /// Directory for reports: index.html, <feature>.junit.xml, <feature>.cucumber.json,
        /// verdict.txt and captures/*.pcapng.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Report failures of scenarios that check only [profile] rules (this project's
        /// own choices where the protocol is silent) in a section of their own; the exit
        /// code then counts only [spec] and [app] failures. Also `run.advisory_profile`.
        #[arg(long)]
        advisory_profile: bool,
        /// Run on this labgrid place: reserve it (waiting while another job holds it), lock
        /// it, take the rig's `place:NAME` ports from its resources, unlock it at the end.
        /// Also `[farm] place` in the rig file. Coordinator: LG_COORDINATOR or `[farm]
        /// coordinator`.
        #[arg(long)]
        place: Option<String>,
        /// Append the run to a ledger: a SQLite file (created if missing), or a PostgreSQL
        /// URL (postgres://user:password@host/db) a farm's benches share. Also `run.history`.
        #[arg(long, value_name = "DEST")]
        history: Option<String>,
        /// Run each selected scenario N times; it passes only if it passed every time (a
        /// release gate, a bisect step).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Run a failed scenario again, up to N times, when its failure was of timing or
        /// transport; never after a crash or reboot, or a rule failed on content. Every
        /// attempt is reported; a pass after a retry is reported as flaky.
        #[arg(long, value_name = "N", default_value_t = 0)]
        retries: u32,
        /// Known failures, each with a reason, a link and an expiry: their scenarios run
        /// and are reported apart, and do not change the exit code. Also `run.quarantine`.
        #[arg(long, value_name = "FILE")]
        quarantine: Option<PathBuf>,
        /// Keep the broker and WiFi passwords in the reports, the terminal and the
        /// captures (by default they read [redacted], and a capture's CONNECT password
        /// is masked to its length). For a private bench only.
        #[arg(long)]
        keep_secrets: bool,
        /// Write DIR/statement.json (with --report DIR): an in-toto statement of every
        /// rule's outcome, with the SHA-256 of the firmware, the rig file and every report
        /// file and capture, signed as a DSSE envelope with this Ed25519 secret key
        /// (`plugrig keygen`).
        #[arg(long, value_name = "KEY")]
        statement: Option<PathBuf>,
        /// Feature files or directories. Default: features/.
        features: Vec<PathBuf>,
    },
    /// The ledger's runs as one self-contained HTML page: per scenario a status strip across
    /// runs (newest right) and its class (stable, flaky, broken since a run), per rule a
    /// pass rate, per measurement a trend against its limits.
    History {
        /// The ledger: a SQLite file or a PostgreSQL URL.
        #[arg(long, value_name = "DEST")]
        db: String,
        /// Where index.html goes.
        #[arg(long, default_value = "target/plugrig-history")]
        out: PathBuf,
        /// Only the newest N runs.
        #[arg(long)]
        last: Option<usize>,
        /// Only runs of the rig of this name.
        #[arg(long)]
        rig: Option<String>,
    },
    /// What changed from run A to run B: regressions, fixes, new and removed scenarios,
    /// measurements that moved by more than their tolerance. Exits 1 on a regression.
    Compare {
        /// The ledger the runs are in (a SQLite file or a PostgreSQL URL).
        #[arg(long, value_name = "DEST")]
        db: String,
        /// A run: its id, the random tail of its id, `last` or `last-N`.
        a: String,
        b: String,
    },
    /// Build the ESP32-C3 firmware (firmware/esp32c3, release) and write its images:
    /// plug-esp32c3.flash.bin (bootloader, partition table and app; write at offset 0),
    /// plug-esp32c3.app.bin (what an OTA slot holds) and, with --ota-version,
    /// plug-esp32c3.ota.bin (the app behind the OTA header, for an upgrade server).
    Image {
        /// Use this ELF instead of building the firmware.
        #[arg(long)]
        elf: Option<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "target/plugrig-images")]
        out: PathBuf,
        /// Version for the OTA header (at most 16 bytes; the vendor's are six digits).
        #[arg(long)]
        ota_version: Option<String>,
    },
    /// Fuzz the plug black-box through its AP socket and its MQTT topics, with the protocol
    /// as the oracle: after every input the plug must still answer 4001 (AP) or
    /// read_firmware_infor on the same session (MQTT), answer the code the notes pin, and
    /// leave its relay alone unless the input was a valid command. Each finding is
    /// minimized and saved as a reproducer. Ends with `fuzz: N findings in I inputs (T s)`;
    /// exits 1 when N > 0, 2 on a usage or rig mistake.
    Fuzz {
        /// Rig file (TOML). Default: rigs/sim.toml, the simulated rig.
        #[arg(long)]
        rig: Option<PathBuf>,
        /// The plug's declaration (as `run --plug`).
        #[arg(long, value_name = "FILE")]
        plug: Option<PathBuf>,
        /// ap, mqtt or both.
        #[arg(long, default_value = "both")]
        target: plugrig::commands::fuzz::Target,
        /// Time for generated inputs: 90 (seconds), 90s, 10m, 1h.
        #[arg(long, default_value = "60s", value_parser = plugrig::commands::fuzz::parse_budget)]
        budget: std::time::Duration,
        /// At most this many inputs.
        #[arg(long, value_name = "N")]
        inputs: Option<u64>,
        /// The generator's seed: the same seed, the same inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Directory for fuzz.html, fuzz.junit.xml, findings/*.json and captures/.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Send a reproducer's inputs to a fresh plug instead: exits 1 if the finding
        /// shows again, 0 if it does not.
        #[arg(long, value_name = "FILE")]
        replay: Option<PathBuf>,
    },
    /// A new Ed25519 key pair for `run --statement`: the secret key to PREFIX (PKCS#8
    /// PEM, mode 0600; never overwritten), the public key to PREFIX.pub (SPKI PEM).
    Keygen {
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// Check a report's signed statement: the signature by the public key, then every
    /// report file and capture against its SHA-256 (and the rig file, with --rig). Exits
    /// 0 when all hold, 1 naming the first that does not.
    Verify {
        /// The report directory (holding statement.json).
        dir: PathBuf,
        /// The public key (PREFIX.pub from `plugrig keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The rig file the statement names, to check it too.
        #[arg(long)]
        rig: Option<PathBuf>,
        /// The plug declaration the statement names, to check it too.
        #[arg(long, value_name = "FILE")]
        plug: Option<PathBuf>,
    },
    /// Rig commands.
    Rig {
        #[command(subcommand)]
        command: RigCommand,
    },
    /// Rig farm (labgrid) commands.
    Farm {
        #[command(subcommand)]
        command: FarmCommand,
    },
    /// For each rule of the protocol notes, the scenarios that check it (their @rule-<id>
    /// tags). Exits 1 if a rule has none.
    Coverage {
        /// Feature files or directories. Default: features/.
        features: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RigCommand {
    /// Check every instrument of a rig before firmware is judged: the broker, flasher and
    /// AP network driver are there, the power switch and button answer, the meter reads
    /// plausible values with the mains off and on, the console shows a boot after a power
    /// cycle. Exits 0 when nothing failed (absent instruments are listed, not failures).
    Check {
        /// Rig file (TOML). Default: rigs/sim.toml.
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Check the instruments of this labgrid place (reserved, locked and released as
        /// by `run --place`).
        #[arg(long)]
        place: Option<String>,
    },
}

#[derive(Subcommand)]
enum FarmCommand {
    /// Free a place a killed job left locked (labgrid's locks do not expire): unlock it
    /// and cancel its reservation. For a CI job's always-run step.
    Unlock {
        #[arg(long)]
        place: String,
        /// A rig file whose `[farm] coordinator` to use (else LG_COORDINATOR or labgrid's
        /// default).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Unlock even if another user holds the place.
        #[arg(long)]
        kick: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plugrig: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::History { db, out, last, rig } => {
            let filter = plugrig::ledger::RunFilter { last, rig };
            match rt.block_on(plugrig::ledger::page::write(&db, &filter, &out)) {
                Ok(path) => {
                    println!("plugrig: history written to {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Compare { db, a, b } => match rt.block_on(plugrig::ledger::compare_runs(&db, &a, &b)) {
            Ok(c) => {
                print!("{}", c.text());
                if c.regressions.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("plugrig: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Fuzz {
            rig,
            plug,
            target,
            budget,
            inputs,
            seed,
            report,
            replay,
        } => {
            let rig = rig.unwrap_or_else(run::default_rig);
            if let Some(file) = replay {
                return match rt.block_on(plugrig::commands::fuzz::replay(rig, plug, file)) {
                    Ok(Some(f)) => {
                        println!(
                            "fuzz: the finding shows again: {} ({}): {}",
                            f.class.name(),
                            f.rule,
                            f.why
                        );
                        ExitCode::FAILURE
                    }
                    Ok(None) => {
                        println!("fuzz: the finding did not show: the plug kept every promise checked");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("plugrig: {e:#}");
                        ExitCode::from(2)
                    }
                };
            }
            let opts = plugrig::commands::fuzz::FuzzOptions {
                plug,
                target,
                budget,
                max_inputs: inputs,
                seed,
                report,
                ..plugrig::commands::fuzz::FuzzOptions::new(rig)
            };
            match rt.block_on(plugrig::commands::fuzz::run(opts)) {
                Ok(s) => {
                    println!(
                        "plugrig: AP {} inputs ({:.1}/s), MQTT {} inputs ({:.1}/s)",
                        s.ap.inputs,
                        s.ap.rate(),
                        s.mqtt.inputs,
                        s.mqtt.rate()
                    );
                    println!("{}", s.line());
                    ExitCode::from(s.exit_code())
                }
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Keygen { out } => match plugrig::report::statement::keygen(&out) {
            Ok((secret, public)) => {
                println!(
                    "plugrig: secret key {}, public key {}",
                    secret.display(),
                    public.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plugrig: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Verify { dir, key, rig, plug } => match plugrig::report::statement::verify(
            &dir,
            &key,
            plugrig::report::statement::Configuration {
                rig: rig.as_deref(),
                plug: plug.as_deref(),
            },
        ) {
            Ok(v) => {
                println!(
                    "plugrig: statement verified: {} for {}, {} files as signed",
                    v.result, v.subject, v.files
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plugrig: verification FAILED: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Coverage { features } => {
            let features = if features.is_empty() {
                vec![run::workspace_dir().join("features")]
            } else {
                features
            };
            match plugrig::report::coverage::compute(&features) {
                Ok(c) if plugrig::report::coverage::report(&c) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Rig {
            command: RigCommand::Check { rig, place },
        } => {
            let path = rig.unwrap_or_else(run::default_rig);
            let (loaded, request) =
                match plugrig::commands::place::load_with_place(&path, None, place.as_deref()) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("plugrig: {e:#}");
                        return ExitCode::from(2);
                    }
                };
            println!(
                "plugrig: rig check of {} ({})",
                loaded.file.rig.name,
                path.display()
            );
            let check = |rig: plugrig::rig::Rig| async move {
                let report = plugrig::commands::rig_check::check(&rig.file).await;
                report.print();
                anyhow::Ok(report)
            };
            let report = rt.block_on(async {
                match request {
                    None => check(loaded).await.map(Ended::Done),
                    Some(req) => farm::on_place(loaded, req, check).await,
                }
            });
            match report {
                Ok(Ended::Done(report)) if report.ok() => {
                    println!("rig check passed");
                    ExitCode::SUCCESS
                }
                Ok(Ended::Done(report)) => {
                    println!("rig check FAILED: {} check(s)", report.failed().len());
                    ExitCode::FAILURE
                }
                Ok(Ended::Signalled(code)) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Farm {
            command: FarmCommand::Unlock { place, rig, kick },
        } => {
            let coordinator = match rig.as_deref().map(plugrig::rig::load).transpose() {
                Ok(r) => r.and_then(|r| r.file.farm).and_then(|f| f.coordinator),
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    return ExitCode::from(2);
                }
            };
            match rt.block_on(farm::unlock(&place, coordinator.as_deref(), kick)) {
                Ok(line) => {
                    println!("plugrig: {line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Image {
            elf,
            out,
            ota_version,
        } => match plugrig::commands::image::write_images(elf, &out, ota_version.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("plugrig: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            rig,
            plug,
            tags,
            report,
            advisory_profile,
            place,
            history,
            repeat,
            retries,
            quarantine,
            keep_secrets,
            statement,
            features,
        } => {
            let opts = RunOptions {
                rig: rig.unwrap_or_else(run::default_rig),
                plug,
                tags,
                report,
                features,
                advisory_profile,
                history,
                repeat,
                retries,
                quarantine,
                keep_secrets,
                statement,
            };
            let (loaded, request) = match plugrig::commands::place::load_with_place(
                &opts.rig,
                opts.plug.as_deref(),
                place.as_deref(),
            ) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    return ExitCode::from(2);
                }
            };
            let result = rt.block_on(async {
                match request {
                    None => run::run_loaded(opts, loaded).await.map(Ended::Done),
                    Some(req) => farm::on_place(loaded, req, |rig| run::run_loaded(opts, rig)).await,
                }
            });
            match result {
                Ok(Ended::Done(s)) => {
                    println!("{}  (wall time {:.1} s)", s.line(), s.wall.as_secs_f64());
                    ExitCode::from(s.exit_code())
                }
                Ok(Ended::Signalled(code)) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    // The user's mistake, or a rig that could not judge the plug.
                    if e.downcast_ref::<run::Usage>().is_some() {
                        ExitCode::from(run::exit::USAGE)
                    } else {
                        eprintln!("plugrig: no verdict on the plug (exit {})", run::exit::NOT_JUDGED);
                        ExitCode::from(run::exit::NOT_JUDGED)
                    }
                }
            }
        }
    }
}
