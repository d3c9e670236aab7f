//! Where the console goes: stdout, or a pseudo-terminal that stands in for the device's
//! USB-serial port, so a rig reads it with the same serial driver as on a bench.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};

pub enum Sink {
    Stdout,
    Pty {
        master: File,
        /// Held so writes never fail for want of a reader (the rig opens the path itself).
        _slave: OwnedFd,
    },
}

impl Sink {
    /// A new pty; returns the sink and the path a rig opens.
    pub fn pty() -> anyhow::Result<(Sink, String)> {
        let (mut master, mut slave) = (-1, -1);
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: openpty fills the two descriptors and the name buffer (128 bytes is more
        // than any pts path).
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                name.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        anyhow::ensure!(r == 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // Raw mode on the slave: no echo, no line discipline rewriting the text.
        // SAFETY: tcgetattr/tcsetattr on the descriptor opened above.
        unsafe {
            use std::os::fd::AsRawFd;
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
            }
            // Never block the firmware on a console nobody reads: drop lines instead.
            let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        // SAFETY: openpty wrote a NUL-terminated name.
        let path = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok((
            Sink::Pty {
                master,
                _slave: slave,
            },
            path,
        ))
    }

    pub fn line(&mut self, line: &str) {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            // A full buffer (nobody reading) loses the line, as a UART would.
            Sink::Pty { master, .. } => {
                let _ = master.write_all(format!("{line}\r\n").as_bytes());
            }
        }
    }
}
