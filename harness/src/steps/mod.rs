//! Step definitions, one module per domain concept (cucumber-rs book): steps are shared
//! across features. Steps stay thin: the World and the protocol model do the work.

pub mod actuators;
pub mod countdown;
pub mod declaration;
pub mod firmware;
pub mod metering;
pub mod ota;
pub mod params;
pub mod provisioning;
pub mod provisioning_errors;
pub mod reset;
pub mod session;
pub mod switch;
pub mod tls;
