//! Everything an upgrade scenario needs besides the plug: the image format (`format`), the
//! images a run offers (`upgrade_images`), the update server, and
//! DNS for upgrades by name.

pub mod dns;
pub mod format;
pub mod server;
pub mod upgrade_images;

/// The name the rig's DNS resolves to the update server.
pub const UPDATE_HOST: &str = "fw.plugrig.test";
