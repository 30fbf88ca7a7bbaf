//! drift-net
