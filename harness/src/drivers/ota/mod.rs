//! Everything an upgrade scenario needs besides the plug: images, the update server, and
//! DNS for upgrades by name.

pub mod dns;
pub mod image;
pub mod images;
pub mod server;

/// The name the rig's DNS resolves to the update server.
pub const UPDATE_HOST: &str = "fw.plugrig.test";
