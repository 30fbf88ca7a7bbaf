//! Every receive-path decoder on arbitrary bytes, then the receive policy (see `entry::decode`).
#![no_main]

#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::decode(data));
