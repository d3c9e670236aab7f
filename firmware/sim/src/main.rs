//! plug-sim: the simulated plug. plug-core on host I/O, a file flash, a simulated BL0942
//! and load, and a control channel through which a rig's actuators act on it.
//!
//! On start it prints one line to stdout:
//! `plug-sim ready ap=127.0.0.1:PORT control=127.0.0.1:PORT [console=/dev/pts/N]`
//! and from then on the console (on stdout, or on the pty with `--console pty`): one
//! `plug <uptime_ms> <event> ...` line per event (format: plug-core's `console` module;
//! `--variant console-format` prints its other format).
//! This crate's README.md describes the flags, the console and the control channel.
//!
//! Test-only switches: `--fault NAME` (a deliberate violation, plug-core's `faults`) and
//! `--variant NAME` (a conformant choice other than the default, plug-core's `variations`).

mod ap_socket;
mod app;
mod console;
mod control;
mod dns;
mod events;
mod flash;
mod http;
mod mqtt_link;
mod ota_fetch;
mod slots;
mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use plug_core::faults::{Fault, Faults};
use plug_core::identity::Identity;
use plug_core::variations::{Variation, Variations};
use plug_core::Timing;
use tokio::sync::{mpsc, watch};

/// A fixed-capacity string from a flag, with the flag's name in the error.
fn hs<const N: usize>(flag: &str, v: &str) -> anyhow::Result<heapless::String<N>> {
    heapless::String::try_from(v).map_err(|_| anyhow::anyhow!("--{flag}: at most {N} bytes, got {v:?}"))
}

#[derive(Parser, Debug)]
#[command(about = "A simulated MK102/MK112 smart plug running plug-core on the host")]
struct Args {
    /// AP provisioning socket (the device's 192.168.4.1:8266). Port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    ap: SocketAddr,
    /// Control channel for the rig's actuators (power, button, load).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Directory holding the flash (config.flash), OTA slots and otadata; kept across runs.
    #[arg(long)]
    state_dir: PathBuf,
    /// Application timers (heartbeat, countdown, metering, button hold) run this many
    /// times faster. Network timeouts stay real.
    #[arg(long, default_value_t = 1)]
    time_scale: u32,
    /// DNS server for OTA host names (what DHCP would give a real plug).
    #[arg(long)]
    resolver: Option<SocketAddr>,
    #[arg(long, default_value = "11:22:33:44:55:66")]
    mac: String,
    #[arg(long, default_value = "plug_one")]
    name: String,
    #[arg(long, default_value = "iot_plug")]
    function: String,
    /// CN/US/UK/EU, as the plug reports it.
    #[arg(long, default_value = "us")]
    specifications: String,
    /// "1": with power monitoring; "0": without.
    #[arg(long, default_value = "1", value_parser = ["0", "1"])]
    device_type: String,
    /// Version of the factory image (an OTA-installed image reports its own), at most 16
    /// bytes: "000001", or "v2.3.0" as a vendor image would carry.
    #[arg(long, default_value = "000001")]
    firmware_version: String,
    #[arg(long, default_value = "moko")]
    company: String,
    #[arg(long, default_value = "201801")]
    production_date: String,
    /// The file the plug fetches from an upgrade catalogue.
    #[arg(long, default_value = "plug-sim.bin")]
    ota_image: String,
    /// The load plugged into the socket, watts.
    #[arg(long, default_value_t = 60.0)]
    load_watts: f64,
    #[arg(long, default_value_t = 230.0)]
    mains_volts: f64,
    /// Relative gain error of the simulated metering chip (0.005 = reads 0.5 % high).
    #[arg(long, default_value_t = 0.004)]
    gain_error: f64,
    /// Where the console goes: `stdout`, or `pty` (a pseudo-terminal, its path in the
    /// ready line as `console=PATH`), as the device's USB-serial port.
    #[arg(long, default_value = "stdout", value_parser = ["stdout", "pty"])]
    console: String,
    /// A deliberate protocol violation, for testing the conformance suite itself
    /// (repeatable; names in plug-core's `faults` module, e.g. no-cancel-on-switch).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// A conformant choice other than the default, for proving the conformance suite on a
    /// plug that differs legitimately (repeatable; names in plug-core's `variations`
    /// module, e.g. slow-tick).
    #[arg(long = "variant")]
    variants: Vec<String>,
    /// The seed of the intermittent faults (test-only): the same seed, the same draw.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
}

/// plug-sim's intermittent fault: `late-heartbeat` on three boots in ten, drawn from the
/// seed, so that a series of runs sees a plug that fails now and then (a flaky scenario
/// for the run ledger to find). The board draws, once per process: plug-core's faults
/// stay deterministic.
const LATE_HEARTBEAT_SOMETIMES: &str = "late-heartbeat-sometimes";

/// Whether a plug with `seed` draws the intermittent fault (splitmix64, 3 in 10).
pub fn draws_late_heartbeat(seed: u64) -> bool {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z % 10 < 3
}

/// The faults and variations named on the command line; an unknown name is an error
/// that lists the known ones.
fn switches(a: &Args) -> anyhow::Result<(Faults, Variations)> {
    let names = |all: &[&str]| all.join(", ");
    let mut faults = Faults::NONE;
    for name in &a.faults {
        if name == LATE_HEARTBEAT_SOMETIMES {
            if draws_late_heartbeat(a.fault_seed) {
                faults = faults.with(Fault::LateHeartbeat);
            }
            continue;
        }
        let f = Fault::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = plug_core::faults::ALL.iter().map(|(_, n)| *n).collect();
            anyhow::anyhow!(
                "--fault {name}: no such fault (known: {}, {LATE_HEARTBEAT_SOMETIMES})",
                names(&known)
            )
        })?;
        faults = faults.with(f);
    }
    let mut variations = Variations::NONE;
    for name in &a.variants {
        let v = Variation::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = plug_core::variations::ALL.iter().map(|(_, n)| *n).collect();
            anyhow::anyhow!("--variant {name}: no such variation (known: {})", names(&known))
        })?;
        variations = variations.with(v);
    }
    Ok((faults, variations))
}

fn identity(a: &Args) -> anyhow::Result<Identity> {
    Ok(Identity {
        function: hs("function", &a.function)?,
        name: hs("name", &a.name)?,
        specifications: hs("specifications", &a.specifications)?,
        mac: hs("mac", &a.mac)?,
        power_monitoring: a.device_type == "1",
        company: hs("company", &a.company)?,
        production_date: hs("production-date", &a.production_date)?,
        firmware_version: hs("firmware-version", &a.firmware_version)?,
        ota_target: hs("ota-target", "sim")?,
        ota_file: hs("ota-image", &a.ota_image)?,
        // As the ESP32-C3 build: plug-core's TLS client (see `mqtt_link`).
        tls: true,
    })
}

/// The exit status of a plug-sim that stopped for a reason of its own (the host's sockets,
/// files or pty, a bad flag), not for anything plug-core decided: the rig reports such an
/// exit as the rig's failure, not as a verdict on the plug. A panic in plug-core exits 101.
pub const EXIT_BOARD_FAILURE: u8 = 3;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let run = || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // A LocalSet: the TLS client's tasks are not Send (see `mqtt_link`), so the
        // firmware runs as a local task, as it runs on one core on the device.
        tokio::task::LocalSet::new().block_on(&rt, supervise(args))
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plug-sim: board failure (the simulation, not the plug's firmware): {e:#}");
            std::process::ExitCode::from(EXIT_BOARD_FAILURE)
        }
    }
}

/// The power supply: runs the firmware while powered, and starts it again after a
/// restart or a power cycle.
async fn supervise(args: Args) -> anyhow::Result<()> {
    // Bad flags fail before anything is bound or printed.
    let identity = identity(&args)?;
    let (faults, variations) = switches(&args)?;
    std::fs::create_dir_all(&args.state_dir)?;
    // The AP port is reserved now and held until the process ends, so it stays this
    // plug's across power cycles and mode changes (see `ap_socket::ApPort`).
    let ap_port = ap_socket::ApPort::reserve(args.ap)?;
    let ap_addr = ap_port.addr;
    let world = Arc::new(Mutex::new(world::World::new(
        args.load_watts,
        args.mains_volts,
        args.gain_error,
    )));
    let (power_tx, mut power_rx) = watch::channel(true);
    let control = tokio::net::TcpListener::bind(args.control).await?;
    let control_addr = control.local_addr()?;
    let (console_tx, mut console_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(control::serve(control, world.clone(), power_tx));
    let (mut sink, console_path) = match args.console.as_str() {
        "pty" => {
            let (sink, path) = console::Sink::pty()?;
            (sink, Some(path))
        }
        _ => (console::Sink::Stdout, None),
    };
    match &console_path {
        Some(p) => println!("plug-sim ready ap={ap_addr} control={control_addr} console={p}"),
        None => println!("plug-sim ready ap={ap_addr} control={control_addr}"),
    }
    tokio::spawn(async move {
        while let Some(line) = console_rx.recv().await {
            sink.line(&line);
        }
    });
    let cfg = app::BoardConfig {
        faults,
        variations,
        identity,
        timing: Timing::scaled(args.time_scale),
        ap_addr,
        state_dir: args.state_dir.clone(),
        resolver: args.resolver,
    };
    loop {
        if !*power_rx.borrow_and_update() {
            if power_rx.changed().await.is_err() {
                return Ok(());
            }
            continue;
        }
        world::lock(&world).powered = true;
        let mut firmware = tokio::task::spawn_local(app::run(cfg.clone(), world.clone(), console_tx.clone()));
        tokio::select! {
            r = &mut firmware => match r {
                Ok(Ok(app::Stop::Restart)) => continue,
                Ok(Err(e)) => anyhow::bail!("firmware stopped: {e:#}"),
                Err(e) => anyhow::bail!("firmware task failed: {e}"),
            },
            _ = power_rx.wait_for(|on| !*on) => {
                firmware.abort();
                let _ = firmware.await;
                let mut w = world::lock(&world);
                w.powered = false;
                // An unpowered relay drops out.
                w.relay = false;
                w.button = None;
            }
        }
    }
}
