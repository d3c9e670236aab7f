//! Pseudo-terminal pairs for virtual instruments.

use std::os::fd::AsRawFd;

use anyhow::Context;
use tokio_serial::{SerialPort, SerialStream};

/// A pty pair: the master for the virtual instrument, the slave's path for the driver, and
/// the slave handle to keep. The slave stays open (with no exclusive lock and no flock), so
/// reads on the master never fail with EIO before the driver has opened the path, and the
/// driver's exclusive open still succeeds.
pub fn pair() -> anyhow::Result<(SerialStream, String, SerialStream)> {
    let (master, mut slave) = SerialStream::pair().context("creating a pseudo-terminal pair")?;
    let path = slave.name().context("the pty has no name")?;
    slave.set_exclusive(false).context("releasing the pty")?;
    // set_exclusive(false) leaves a shared flock; drop it too.
    // SAFETY: flock on a descriptor owned here.
    let r = unsafe { libc::flock(slave.as_raw_fd(), libc::LOCK_UN) };
    anyhow::ensure!(r == 0, "unlocking the pty: {}", std::io::Error::last_os_error());
    Ok((master, path, slave))
}
