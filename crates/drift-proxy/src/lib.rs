//! drift-proxy
