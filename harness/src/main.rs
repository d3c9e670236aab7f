//! The `plugrig` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use plugrig::runner::{self, RunOptions};

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
    /// passed (a skipped scenario or an undefined step is not a pass).
    Run {
        /// Rig file (TOML). Default: rigs/sim.toml, the simulated rig.
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Tag expression selecting scenarios, e.g. "@provisioning and not @slow".
        #[arg(long)]
        tags: Option<String>,
        /// Directory for reports: <feature>.junit.xml and <feature>.cucumber.json.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Feature files or directories. Default: features/.
        features: Vec<PathBuf>,
    },
    /// For each rule of the protocol notes, the scenarios that check it (their @rule-<id>
    /// tags). Exits 1 if a rule has none.
    Coverage {
        /// Feature files or directories. Default: features/.
        features: Vec<PathBuf>,
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
        Command::Coverage { features } => {
            let features = if features.is_empty() {
                vec![runner::workspace_dir().join("features")]
            } else {
                features
            };
            match plugrig::coverage::compute(&features) {
                Ok(c) if plugrig::coverage::report(&c) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Run {
            rig,
            tags,
            report,
            features,
        } => {
            let opts = RunOptions {
                rig: rig.unwrap_or_else(runner::default_rig),
                tags,
                report,
                features,
            };
            match rt.block_on(runner::run(opts)) {
                Ok(s) => {
                    println!("{}  (wall time {:.1} s)", s.line(), s.wall.as_secs_f64());
                    if s.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("plugrig: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
