//! Raw HTTP/1.1 over loopback TCP, for tests that pin the exact bytes the proxy sends: a
//! scripted backend that records every request and answers with bytes the test chose, and a
//! client connection that writes bytes and parses what comes back strictly.

mod backend;
mod wire;

// Every test binary compiles `common`, most without using these.
#[allow(unused_imports)]
pub use backend::*;
#[allow(unused_imports)]
pub use wire::*;
