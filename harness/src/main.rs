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
        /// Directory for reports: index.html, <feature>.junit.xml, <feature>.cucumber.json,
        /// verdict.txt and captures/*.pcapng.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Report failures of scenarios that check only [profile] rules (this project's
        /// own choices where the protocol is silent) in a section of their own; the exit
        /// code then counts only [spec] and [app] failures. Also `run.advisory_profile`.
        #[arg(long)]
        advisory_profile: bool,
        /// Feature files or directories. Default: features/.
        features: Vec<PathBuf>,
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
    /// Rig commands.
    Rig {
        #[command(subcommand)]
        command: RigCommand,
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
        Command::Rig {
            command: RigCommand::Check { rig },
        } => {
            let path = rig.unwrap_or_else(runner::default_rig);
            let loaded = match plugrig::rig::load(&path) {
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
            let report = rt.block_on(plugrig::rig_check::check(&loaded.file));
            report.print();
            if report.ok() {
                println!("rig check passed");
                ExitCode::SUCCESS
            } else {
                println!("rig check FAILED: {} check(s)", report.failed().len());
                ExitCode::FAILURE
            }
        }
        Command::Image {
            elf,
            out,
            ota_version,
        } => match write_images(elf, &out, ota_version.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("plugrig: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            rig,
            tags,
            report,
            advisory_profile,
            features,
        } => {
            let opts = RunOptions {
                rig: rig.unwrap_or_else(runner::default_rig),
                tags,
                report,
                features,
                advisory_profile,
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

fn write_images(
    elf: Option<PathBuf>,
    out: &std::path::Path,
    ota_version: Option<&str>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use instruments::flash::image;
    use plugrig::firmware::{build, ota_image};
    if let Some(v) = ota_version {
        anyhow::ensure!(
            !v.is_empty() && v.len() <= 16,
            "--ota-version: 1 to 16 bytes, got {v:?}"
        );
    }
    let elf = match elf {
        Some(e) => e,
        None => build::build_firmware()?,
    };
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let images = image::from_elf(&bytes)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, data: &[u8]| -> anyhow::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
        Ok(())
    };
    write("plug-esp32c3.flash.bin", &images.merged())?;
    write("plug-esp32c3.app.bin", &images.app)?;
    if let Some(v) = ota_version {
        let target = plug_board::ATHOM_C3_BL0942.ota_target;
        write("plug-esp32c3.ota.bin", &ota_image(&images.app, target, v))?;
    }
    println!("app image {}", image::size_line(images.app.len()));
    Ok(())
}
