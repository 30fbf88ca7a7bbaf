//! keepalived.conf grammar on arbitrary text (see `entry::parse_str`).
#![no_main]

#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::parse_str(data));
