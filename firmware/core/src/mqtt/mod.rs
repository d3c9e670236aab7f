//! MQTT 3.1.1 client, sans-IO, split as smoltcp splits wire from socket: `wire` frames and
//! checks bytes (no state), `session` owns the connection above it.
//!
//! Read first: `session`'s header (the spec sections), then `wire`. mqttrs is the codec.
//! Refuses: I/O, clocks and the heap.

mod qos;
mod session;
pub mod wire;

pub use qos::Qos;
pub use session::{
    Event, NetTiming, PublishError, Session, SessionConfig, INFLIGHT_MAX, PAYLOAD_MAX, TOPIC_MAX,
};
pub use wire::{Bytes, PACKET_MAX};
