//! Prints the RAM the core's state takes: `cargo run -p plug-core --example footprint`.
//! The core allocates nothing; these sizes are all of it (plus the caller's stack).

use core::mem::size_of;

fn main() {
    let rows = [
        ("Plug (the whole application state)", size_of::<plug_core::Plug>()),
        (
            "  mqtt::Session (inside Plug in station mode)",
            size_of::<plug_core::mqtt::Session>(),
        ),
        (
            "  Action (one queued action; the queue holds 32)",
            size_of::<plug_core::Action>(),
        ),
        (
            "  provisioning::Stream (one AP connection's input)",
            size_of::<plug_core::provisioning::Stream>(),
        ),
        (
            "  ota::image::Verifier",
            size_of::<plug_core::ota::image::Verifier>(),
        ),
        (
            "  ota::vendor_image::Verifier (vendor-image variation)",
            size_of::<plug_core::ota::vendor_image::Verifier>(),
        ),
        ("config::Config (stored)", size_of::<plug_core::config::Config>()),
    ];
    for (what, bytes) in rows {
        println!("{bytes:>8} bytes  {what}");
    }
}
