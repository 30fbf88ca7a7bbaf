//! drift-vrrp: the sans-IO VRRP core.
//!
//! * [`wire`]: VRRPv2/v3 codec, IPv4 splitter, gratuitous ARP and unsolicited NA builders.
//! * [`Instance`]: the RFC 3768/5798 state machine with keepalived's options; time and packets
//!   go in, [`Action`]s come out, nothing here touches a socket or a clock.
//! * `sim` (feature `sim`): a deterministic LAN of instances for seed-swept tests.
//!
//! No tokio, no libc: the simulator and the fuzzers build in seconds.

pub mod config;
pub mod instance;
pub mod policy;
pub mod stats;
pub mod timers;
pub mod wire;

pub use config::{Auth, InitialState, InstanceConfig, UnicastPeer};
pub use instance::{Action, Input, Instance, State};
pub use stats::{Drops, Stats};

#[cfg(feature = "sim")]
pub mod sim;
